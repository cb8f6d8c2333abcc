// The seed's ingestion stack, for the side-by-side table: the official
// socket.io server, one INSERT per event into PostgreSQL, then event:ack and
// the ack callback (as the seed's Node.js server does it, without its batches).
//   node bench/ingest/seed_stack.mjs --port 3999 --db postgresql://...
import { createServer } from "node:http";
import { Server } from "socket.io";
import pg from "pg";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const pool = new pg.Pool({ connectionString: arg("db"), max: 10 });
await pool.query(`CREATE TABLE IF NOT EXISTS seed_event (id bigserial PRIMARY KEY,
  event_id text UNIQUE NOT NULL, event_type text NOT NULL, user_id text, session_id text,
  ts timestamptz NOT NULL, received_at timestamptz NOT NULL DEFAULT now(), metadata jsonb NOT NULL DEFAULT '{}')`);
const http = createServer();
const io = new Server(http, { path: arg("path", "/api/socket"), serveClient: false });
io.on("connection", (socket) => {
  socket.on("user:event", async (e, ack) => {
    try {
      await pool.query(
        "INSERT INTO seed_event (event_id, event_type, user_id, session_id, ts, metadata) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        [e.eventId, e.eventType, e.userId ?? null, e.sessionId ?? null, e.timestamp ?? new Date().toISOString(), e.metadata ?? {}],
      );
      const body = { eventId: e.eventId, status: "ok" };
      socket.emit("event:ack", body);
      if (typeof ack === "function") ack(body);
    } catch (err) {
      socket.emit("event:error", { eventId: e?.eventId ?? "", code: "unavailable", message: err.message });
    }
  });
});
http.listen(Number(arg("port", "3999")), "127.0.0.1");
