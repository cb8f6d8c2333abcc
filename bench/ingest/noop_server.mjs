// The ceiling the official client sets: a Socket.IO server (the official Node
// `socket.io` package) that answers user:event exactly as insightd does — an
// event:ack emit plus the ack callback — but stores nothing. Whatever rate the
// load generator reaches against it is the client's own limit on this machine.
//
//   node bench/ingest/noop_server.mjs [--port 3999] [--path /api/socket]
import { createServer } from "node:http";
import { Server } from "socket.io";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const port = Number(opt("port", "3999"));
const path = opt("path", "/api/socket");

const http = createServer();
const io = new Server(http, { path, serveClient: false, cors: { origin: "*" } });

const answer = (event) => ({
  eventId: event?.eventId ?? "",
  status: "ok",
  batchId: "noop",
  receivedAt: new Date().toISOString(),
});

io.on("connection", (socket) => {
  socket.on("user:event", (event, ack) => {
    const body = answer(event);
    socket.emit("event:ack", body);
    if (typeof ack === "function") ack(body);
  });
  socket.on("user:events", (events, ack) => {
    const bodies = (Array.isArray(events) ? events : []).map(answer);
    for (const body of bodies) socket.emit("event:ack", body);
    if (typeof ack === "function") ack(bodies);
  });
});

http.listen(port, "127.0.0.1", () => {
  console.log(`noop Socket.IO server listening on http://127.0.0.1:${http.address().port}${path}`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
