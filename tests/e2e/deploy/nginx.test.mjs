// deploy/nginx/insightd.conf, as shipped (only its ports changed), run by
// Debian's nginx in front of two `insightd serve` nodes on one PostgreSQL,
// with the official socket.io-client over long-polling, WebSocket and polling
// upgraded to WebSocket, each client from an address of its own (127.0.0.x)
// so that the clients spread over both nodes: 10,000 events acknowledged,
// each stored exactly once; the nodes trust the proxy's X-Forwarded-For, so a
// per-address limit counts each client, not the proxy. Then the same file without its stickiness shows
// the failure docs/OPERATIONS.md warns about: a polling session's requests
// reach the node that does not know it (400 "Session ID unknown").
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { startServer, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";

const NGINX = process.env.NGINX_BIN;
if (!NGINX) throw new Error("NGINX_BIN must name nginx (scripts/deps.sh test installs nginx-light)");
const SHIPPED = join(dirname(fileURLToPath(import.meta.url)), "../../../deploy/nginx/insightd.conf");

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, ms, log) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port}\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// nginx with the shipped file in front of `nodes`; `sticky: false` drops the
// file's `hash` line (round robin).
async function startNginx(dir, nodes, { sticky }) {
  const port = await freePort();
  const shipped = readFileSync(SHIPPED, "utf8");
  let conf = shipped
    .replace("server 127.0.0.1:3001 ", `server 127.0.0.1:${nodes[0]} `)
    .replace("server 127.0.0.1:3002 ", `server 127.0.0.1:${nodes[1]} `)
    .replace("listen 80;", `listen 127.0.0.1:${port};`);
  if (!sticky) conf = conf.replace(/^\s*hash \$remote_addr consistent;$/m, "");
  assert.equal((conf.match(new RegExp(`127\\.0\\.0\\.1:(${nodes[0]}|${nodes[1]}|${port})\\b`, "g")) || []).length, 3,
    "the shipped file's ports were found");
  assert.equal(conf.includes("hash $remote_addr consistent;"), sticky);
  writeFileSync(join(dir, "insightd.conf"), conf);
  writeFileSync(join(dir, "nginx.conf"), `
${process.getuid() === 0 ? "user root;" : ""}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  include ${dir}/insightd.conf;
}
`);
  const child = spawn(NGINX, ["-p", dir, "-e", join(dir, "error.log"), "-c", join(dir, "nginx.conf")],
    { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (c) => (log += c));
  child.stderr.on("data", (c) => (log += c));
  await waitForPort(port, 10000, () => log);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");  // fast: open WebSockets are not waited for
      await done;
    },
  };
}

// A client from its own loopback address (127.0.0.`n`), for polling and WebSocket alike.
function client(url, n, transports, extra = {}) {
  const localAddress = `127.0.0.${n}`;
  return io(url, {
    path: "/api/socket",
    transports,
    reconnection: false,
    agent: new http.Agent({ localAddress, keepAlive: true }),
    localAddress,
    ...extra,
  });
}

const connected = (socket) =>
  new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });

async function send(socket, prefix, count, window) {
  const acked = [];
  let next = 0;
  await new Promise((resolve, reject) => {
    let inFlight = 0;
    const pump = () => {
      while (inFlight < window && next < count) {
        const id = `${prefix}-${next++}`;
        inFlight++;
        socket.timeout(30000).emit("user:event", {
          eventId: id, eventType: "page_view", userId: prefix, timestamp: new Date().toISOString(),
        }, (err, ack) => {
          if (err) return reject(err);
          if (!ack || ack.status !== "ok") return reject(new Error(`${id}: ${JSON.stringify(ack)}`));
          acked.push(id);
          inFlight--;
          if (acked.length === count) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  return acked;
}

const requestsOf = async (node) => {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^insightd_http_requests_total\{[^}]*route="\/api\/socket[^"]*"[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
};

test("nginx in front of two serve nodes: polling, WebSocket and the upgrade, 10,000 events exactly once; without stickiness polling fails", async () => {
  const pg = pgSchema();
  const dirs = [tempDir(), tempDir(), tempDir()];
  // One Socket.IO session per client address: through the proxy it holds only
  // because the nodes take each client's address from X-Forwarded-For.
  const env = { DATABASE_URL: pg.url, TRUSTED_PROXIES: "127.0.0.1", BATCH_MAX_EVENTS: "100",
    MAX_SESSIONS_PER_ADDRESS: "1" };
  const nodes = [];
  const sockets = [];
  let proxy;
  try {
    for (const d of dirs.slice(0, 2)) nodes.push(await startServer({ dir: d, env, args: ["serve"] }));
    proxy = await startNginx(dirs[2], nodes.map((n) => n.port), { sticky: true });

    const kinds = [["polling"], ["websocket"], ["polling", "websocket"]];
    for (let i = 0; i < 12; i++) sockets.push(client(proxy.url, 10 + i, kinds[i % 3]));
    await Promise.all(sockets.map(connected));
    const perClient = [834, 834, 834, 834, 833, 833, 833, 833, 833, 833, 833, 833];
    assert.equal(perClient.reduce((a, b) => a + b), 10000);
    // A second session from an address that has one is refused: the limit
    // counts the client behind the proxy, not the proxy.
    const second = client(proxy.url, 10, ["websocket"]);
    await assert.rejects(connected(second));
    second.close();
    const acked = (await Promise.all(sockets.map((s, i) => send(s, `nx${i}`, perClient[i], 25)))).flat();
    sockets.forEach((s, i) => {
      if (i % 3 === 2) assert.equal(s.io.engine.transport.name, "websocket", "the upgrade happened through nginx");
    });
    for (const s of sockets) s.close();
    assert.equal(acked.length, 10000);
    assert.equal(new Set(acked).size, 10000);
    const stored = pg.rows(`SELECT event_id, COUNT(*) AS n FROM "Event" WHERE event_id LIKE 'nx%' GROUP BY event_id`);
    assert.equal(stored.length, 10000, "every acked event stored");
    assert.ok(stored.every((r) => Number(r.n) === 1), "none twice");
    // Both nodes took a share of the Socket.IO traffic.
    const shares = await Promise.all(nodes.map(requestsOf));
    assert.ok(shares.every((n) => n > 0), `Socket.IO requests per node: ${shares}`);
    await proxy.stop();

    // Round robin: a polling session's next request reaches the other node.
    proxy = await startNginx(dirs[2], nodes.map((n) => n.port), { sticky: false });
    let failed = 0;
    let unknown = 0;
    for (let i = 0; i < 10; i++) {
      const s = client(proxy.url, 40 + i, ["polling"]);
      try {
        await connected(s);
        await send(s, `rr${i}`, 20, 5);
      } catch (err) {
        failed++;
        // The other node does not know the session: 400 (insightd's "Session
        // ID unknown"), which the client reports as a transport error.
        if (err.type === "TransportError" && err.description === 400) unknown++;
      } finally {
        s.close();
      }
    }
    assert.ok(failed >= 5, `only ${failed} of 10 polling clients failed without stickiness`);
    assert.equal(unknown, failed, "each failure is the unknown session's 400");
    // WebSocket-only clients need no stickiness.
    const ws = client(proxy.url, 60, ["websocket"]);
    await connected(ws);
    assert.equal((await send(ws, "rrws", 100, 10)).length, 100);
    ws.close();
    console.log(`without stickiness: ${failed}/10 polling clients failed, each on a 400 for an unknown session`);
  } finally {
    for (const s of sockets) s.close();
    if (proxy) await proxy.stop();
    for (const n of nodes) await n.stop();
    pg.drop();
    for (const d of dirs) cleanup(d);
  }
});

// Sends events one after another (`window` in flight) until stop() is called,
// each until it is acknowledged: an error answer or a timeout sends it again
// with the same eventId, as a careful client does. Counts what it met.
function steadySender(socket, prefix, window) {
  const stats = { acked: new Map(), retried: 0, errors: {}, duplicates: 0 };
  let next = 0;
  let stopping = false;
  let inFlight = 0;
  let finish;
  const done = new Promise((r) => (finish = r));
  const attempt = (id, body) => {
    socket.timeout(10000).emit("user:event", body, (err, ack) => {
      const status = err ? "timeout" : ack?.status ?? ack?.code ?? "unknown";
      if (status === "ok" || status === "duplicate") {
        if (status === "duplicate") stats.duplicates++;
        stats.acked.set(id, status);
        inFlight--;
        return pump();
      }
      stats.errors[status] = (stats.errors[status] ?? 0) + 1;
      stats.retried++;
      setTimeout(() => attempt(id, body), 50 + Math.random() * 100);
    });
  };
  const pump = () => {
    while (!stopping && inFlight < window) {
      const id = `${prefix}-${next++}`;
      inFlight++;
      attempt(id, { eventId: id, eventType: "page_view", userId: prefix, timestamp: new Date().toISOString() });
    }
    if (stopping && inFlight === 0) finish();
  };
  pump();
  return {
    stats,
    stop() {
      stopping = true;
      if (inFlight === 0) finish();
      return done;
    },
  };
}

test("a rolling restart of both nodes behind nginx under load: every acknowledged event stored once, none acknowledged twice", async () => {
  const pg = pgSchema();
  const dirs = [tempDir(), tempDir(), tempDir()];
  const ports = [await freePort(), await freePort()];
  const env = { DATABASE_URL: pg.url, TRUSTED_PROXIES: "127.0.0.1", BATCH_MAX_EVENTS: "100", SHUTDOWN_GRACE_MS: "5000" };
  const start = (i) => startServer({ dir: dirs[i], env: { ...env, PORT: String(ports[i]) }, args: ["serve"] });
  const nodes = [await start(0), await start(1)];
  const sockets = [];
  let proxy;
  try {
    proxy = await startNginx(dirs[2], ports, { sticky: true });
    const kinds = [["polling"], ["websocket"], ["polling", "websocket"]];
    for (let i = 0; i < 9; i++) {
      sockets.push(client(proxy.url, 100 + i, kinds[i % 3], {
        reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 1000,
      }));
    }
    await Promise.all(sockets.map(connected));
    const senders = sockets.map((s, i) => steadySender(s, `roll${i}`, 10));
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    const drained = [];
    for (const i of [0, 1]) {
      await pause(1500);
      const t0 = Date.now();
      assert.equal(await nodes[i].stop("SIGTERM"), 0, `node ${i} stops cleanly`);
      drained.push({ ms: Date.now() - t0, log: /Drained (\d+) Socket\.IO session\(s\) in (\d+) ms \((\d+) left\)/.exec(nodes[i].log()) });
      assert.ok(Date.now() - t0 < 5000 + 2000, `node ${i} stopped within SHUTDOWN_GRACE_MS`);
      nodes[i] = await start(i);
    }
    await pause(1500);
    await Promise.all(senders.map((s) => s.stop()));
    const acked = senders.flatMap((s) => [...s.stats.acked.keys()]);
    const stored = pg.rows(`SELECT event_id, COUNT(*) AS n FROM "Event" WHERE event_id LIKE 'roll%' GROUP BY event_id`);
    const storedIds = new Set(stored.map((r) => r.event_id));
    assert.ok(acked.length > 1000, `only ${acked.length} events acknowledged`);
    assert.equal(acked.filter((id) => !storedIds.has(id)).length, 0, "every acknowledged event is stored");
    assert.ok(stored.every((r) => Number(r.n) === 1), "none stored twice");
    const errors = {};
    for (const s of senders) for (const [k, v] of Object.entries(s.stats.errors)) errors[k] = (errors[k] ?? 0) + v;
    const duplicates = senders.reduce((a, s) => a + s.stats.duplicates, 0);
    const retried = senders.reduce((a, s) => a + s.stats.retried, 0);
    console.log(`rolling restart: ${acked.length} events acknowledged, ${stored.length} stored; ` +
      `${retried} sends retried (${JSON.stringify(errors)}), ${duplicates} acknowledged as duplicates; ` +
      `drains: ${drained.map((d) => d.log ? `${d.log[1]} sessions in ${d.log[2]} ms (${d.log[3]} left), exit after ${d.ms} ms` : "none").join("; ")}`);
    // A stored event is acknowledged before its session closes: nothing the
    // clients sent again had been stored already.
    assert.equal(duplicates, 0, "an event stored during a drain went unacknowledged");
    for (const d of drained) assert.ok(d.log && Number(d.log[3]) === 0, `a node's drain left sessions: ${JSON.stringify(d)}`);
  } finally {
    for (const s of sockets) s.close();
    if (proxy) await proxy.stop();
    for (const n of nodes) await n.stop();
    pg.drop();
    for (const d of dirs) cleanup(d);
  }
});
