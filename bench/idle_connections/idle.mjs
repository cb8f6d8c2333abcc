// What an idle WebSocket client costs a Socket.IO server, in resident memory.
//
// For each run: starts a fresh server (build/insightd on a private SQLite folder,
// or the official Node socket.io server of node_server.mjs), samples its VmRSS
// (/proc/PID/status) once it is idle, connects N official socket.io-client
// clients over WebSocket only (each one connected and joined to "/"), waits for
// the RSS to settle and samples again, then keeps them idle through one
// heartbeat (every session pinged and ponged once) and samples a third time.
// The cost of one connection is (after − before) / N. Then every client
// disconnects and the server stops. Loopback only; bounded in clients and time.
//
//   bench/idle_connections/run.sh [--server insightd|node|both] [--clients 5000]
//                                 [--runs 3] [--hold 30] [--bin build/insightd]
//
// (run.sh raises the open-file limit first: this process holds N sockets, and
// so does the server.) Needs `npm ci` at the root (socket.io-client) and, for
// the Node server, `npm ci --prefix bench/ingest` (socket.io).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const which = opt("server", "both");
const clients = Number(opt("clients", "5000"));
const runs = Number(opt("runs", "3"));
// Seconds the clients stay idle after the last one connected: past the 25 s ping
// interval of both servers, so every session has been through one heartbeat.
const holdSeconds = Number(opt("hold", "30"));
const bin = resolve(root, opt("bin", "build/insightd"));
const inFlight = Number(opt("concurrency", "100"));  // handshakes under way at once
const path = "/api/socket";
if (!(clients > 0 && clients <= 20000)) throw new Error("--clients must be 1..20000");
if (!(runs > 0 && runs <= 20)) throw new Error("--runs must be 1..20");
if (!(holdSeconds >= 0 && holdSeconds <= 120)) throw new Error("--hold must be 0..120 s");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]);
}

// Samples every 250 ms until the RSS has moved less than 0.5% over the last 2 s
// (at least `minMs` after the start, at most `maxMs`); returns the last sample.
async function settledRss(pid, minMs = 2000, maxMs = 20000) {
  const start = Date.now();
  const samples = [];
  for (;;) {
    samples.push(rssKb(pid));
    const window = samples.slice(-8);
    const elapsed = Date.now() - start;
    if (elapsed >= maxMs) break;
    if (elapsed >= minMs && window.length === 8) {
      const lo = Math.min(...window);
      const hi = Math.max(...window);
      if (hi - lo <= hi * 0.005) break;
    }
    await sleep(250);
  }
  return samples[samples.length - 1];
}

async function startServer(kind) {
  let child;
  let dir = null;
  if (kind === "insightd") {
    dir = mkdtempSync(join(tmpdir(), "insightd-idle-"));
    child = spawn(bin, [], {
      cwd: dir,  // SQLite at ./data/insightd.db in a folder of its own
      env: {
        PATH: process.env.PATH,
        PORT: "0",
        HOST: "127.0.0.1",
        // Every client comes from 127.0.0.1: the per-address caps are raised so
        // that they admit N connections (the global caps stay as they are).
        MAX_CONNECTIONS_PER_ADDRESS: "100000",
        MAX_SESSIONS_PER_ADDRESS: "100000",
        HANDSHAKES_PER_SECOND_PER_ADDRESS: "100000",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
  } else {
    child = spawn(process.execPath, [join(here, "node_server.mjs")], {
      env: { PATH: process.env.PATH, PORT: "0", SOCKETIO_PATH: path },
      stdio: ["ignore", "pipe", "pipe"],
    });
  }
  let log = "";
  const port = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start:\n${log}`)), 20000);
    const onData = (chunk) => {
      log += chunk;
      if (log.length > 1 << 20) log = log.slice(-(1 << 19));
      const m = /Listening on http:\/\/[^\s]+:(\d+)\s/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${kind} exited with ${code}:\n${log}`)));
  });
  return {
    pid: child.pid,
    port,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 15000);
        await done;
        clearTimeout(killer);
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function connectOne(port) {
  return new Promise((resolveSocket, reject) => {
    const socket = io(`http://127.0.0.1:${port}`, {
      path,
      transports: ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: 20000,
    });
    socket.once("connect", () => resolveSocket(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

async function connectAll(port, n) {
  const sockets = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      sockets.push(await connectOne(port));
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, worker));
  return sockets;
}

async function oneRun(kind, run) {
  const server = await startServer(kind);
  let sockets = [];
  try {
    const before = await settledRss(server.pid, 3000);
    const t0 = Date.now();
    sockets = await connectAll(server.port, clients);
    const connectSeconds = (Date.now() - t0) / 1000;
    const lastConnect = Date.now();
    const connected = await settledRss(server.pid);
    let heartbeat = null;
    if (holdSeconds > 0) {
      await sleep(Math.max(0, lastConnect + holdSeconds * 1000 - Date.now()));
      const alive = sockets.filter((s) => s.connected).length;
      if (alive !== clients) throw new Error(`${clients - alive} clients lost during the hold`);
      heartbeat = await settledRss(server.pid);
    }
    const per = (kb) => (kb === null ? null : (kb - before) / clients);
    const result = {
      server: kind,
      run,
      clients,
      connectSeconds,
      rssBeforeKb: before,
      rssConnectedKb: connected,
      rssAfterHeartbeatKb: heartbeat,
      kbPerConnection: Number(per(connected).toFixed(2)),
      kbPerConnectionAfterHeartbeat: heartbeat === null ? null : Number(per(heartbeat).toFixed(2)),
    };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    for (const s of sockets) s.disconnect();
    await sleep(500);
    await server.stop();
  }
}

const kinds = which === "both" ? ["insightd", "node"] : [which];
for (const k of kinds) {
  if (k !== "insightd" && k !== "node") throw new Error(`--server: insightd, node or both`);
}
const results = { insightd: [], node: [] };
// Alternates the servers run by run, so that both see the same machine.
for (let run = 1; run <= runs; run++) {
  for (const kind of kinds) results[kind].push(await oneRun(kind, run));
}
console.log(`\nidle WebSocket clients: ${clients}, runs: ${runs} (medians; KB = 1024 bytes of VmRSS)`);
for (const kind of kinds) {
  const rs = results[kind];
  const connected = median(rs.map((r) => r.kbPerConnection));
  let line = `${kind.padEnd(9)} connected: ${connected.toFixed(1)} KB/connection`;
  if (holdSeconds > 0) {
    const hb = median(rs.map((r) => r.kbPerConnectionAfterHeartbeat));
    line += `   after one heartbeat: ${hb.toFixed(1)} KB/connection`;
  }
  line += `   (runs: ${rs.map((r) => r.kbPerConnectionAfterHeartbeat ?? r.kbPerConnection).join(", ")})`;
  console.log(line);
}
