// The comparison for bench/idle_connections/idle.mjs: the official Node Socket.IO
// server (`socket.io` 4.8.4, installed by `npm ci --prefix bench/ingest`) with its
// default options at insightd's path, doing nothing with its clients. Prints
// "Listening on http://127.0.0.1:PORT " once it listens (PORT=0: any free port).
//
//   PORT=0 node bench/idle_connections/node_server.mjs
import { createServer } from "node:http";
import { createRequire } from "node:module";

// socket.io lives in bench/ingest's node_modules (the same version the ingestion
// benchmark compares with), so this folder needs no package of its own.
const require = createRequire(new URL("../ingest/package.json", import.meta.url));
const { Server } = require("socket.io");

const path = process.env.SOCKETIO_PATH ?? "/api/socket";
const http = createServer();
const io = new Server(http, { path });
io.on("connection", () => {});

http.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(`Listening on http://127.0.0.1:${http.address().port} (socket.io, path ${path})`);
});
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
