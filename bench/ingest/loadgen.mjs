// Ingestion load generator: N connections, each keeping up to W events in
// flight (or paced to a total rate), reports acked events/s and ack latency
// (time from sending an event to its acknowledgement) p50/p99/p99.9/max.
//
//   node bench/ingest/loadgen.mjs --url http://127.0.0.1:3000 [options]
//
//   --client official   the official socket.io-client (emit with an ack callback)
//   --client raw        our own minimal client: Socket.IO v5 frames written by
//                       hand over one `ws` WebSocket per connection (what the
//                       client costs is then as small as Node allows)
//   --client http       POST /api/events, --per-request events per request
//   --transport websocket|polling   (official client only; default websocket)
//   --path /api/socket  --connections 8  --window 64  --duration 10  --warmup 2
//   --rate R            pace the total send rate to R events/s (open loop,
//                       still capped by the window); without it, closed loop
//   --write-key K       Socket.IO auth {writeKey} / X-Write-Key header
//   --interval S        also print one JSON line every S seconds of the run
//                       ({"interval":k,"acked","ackedPerSec","p50ms","p99ms"}
//                       of those S seconds), for soak runs; the summary's
//                       percentiles are then those of the last interval
//   --json              print one JSON line only
//
// Every event carries a fresh eventId, so a storing server stores each once.
import { performance } from "node:perf_hooks";
import { randomBytes } from "node:crypto";
import { io } from "socket.io-client";
import WebSocket from "ws";

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const flag = (name) => argv.includes(`--${name}`);

const cfg = {
  url: opt("url", "http://127.0.0.1:3000"),
  path: opt("path", "/api/socket"),
  client: opt("client", "official"),
  transport: opt("transport", "websocket"),
  connections: Number(opt("connections", "8")),
  window: Number(opt("window", "64")),
  duration: Number(opt("duration", "10")),
  warmup: Number(opt("warmup", "2")),
  rate: Number(opt("rate", "0")),
  perRequest: Number(opt("per-request", "50")),
  writeKey: opt("write-key", ""),
  interval: Number(opt("interval", "0")),
  json: flag("json"),
};

const run = randomBytes(4).toString("hex");
const sessionIds = Array.from({ length: 64 }, (_, i) => `sess-${run}-${i}`);
function makeEvent(conn, seq) {
  return {
    eventId: `lg-${run}-${conn}-${seq}`,
    eventType: seq % 7 === 0 ? "click" : "page_view",
    userId: `user-${seq % 997}`,
    sessionId: sessionIds[seq % sessionIds.length],
    timestamp: new Date().toISOString(),
    metadata: { page: `/products/${seq % 50}`, referrer: "https://example.com/", ms: seq % 1000 },
  };
}

// --- Measurement -----------------------------------------------------------
let measuring = false;
let acked = 0;
let errors = 0;
let latencies = new Float64Array(1 << 20);
let nLat = 0;
function record(sentAt, ok) {
  if (!measuring) return;
  if (!ok) {
    errors++;
    return;
  }
  acked++;
  if (nLat === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[nLat++] = performance.now() - sentAt;
}

// --- Pacing: a shared budget of events each connection may send now --------
let budget = Infinity;
const waiting = new Set();
if (cfg.rate > 0) {
  budget = 0;
  let last = performance.now();
  setInterval(() => {
    const now = performance.now();
    budget = Math.min(budget + ((now - last) / 1000) * cfg.rate, cfg.rate / 50 + 1);
    last = now;
    for (const pump of waiting) pump();
  }, 2).unref();
}
function takeBudget() {
  if (budget < 1) return false;
  budget -= 1;
  return true;
}

let stopping = false;

// --- Clients ---------------------------------------------------------------
function officialConnection(conn) {
  return new Promise((resolve, reject) => {
    const socket = io(cfg.url, {
      path: cfg.path,
      transports: cfg.transport === "polling" ? ["polling"] : ["websocket"],
      auth: cfg.writeKey ? { writeKey: cfg.writeKey } : undefined,
      reconnection: false,
      forceNew: true,
    });
    let inFlight = 0;
    let seq = 0;
    const pump = () => {
      while (!stopping && inFlight < cfg.window && takeBudget()) {
        inFlight++;
        const sentAt = performance.now();
        socket.emit("user:event", makeEvent(conn, seq++), (answer) => {
          inFlight--;
          record(sentAt, answer && (answer.status === "ok" || answer.status === "duplicate"));
          pump();
        });
      }
      if (inFlight < cfg.window) waiting.add(pump);
      else waiting.delete(pump);
    };
    socket.once("connect", () => resolve({ start: pump, close: () => socket.close() }));
    socket.once("connect_error", reject);
  });
}

function rawConnection(conn) {
  const wsUrl = `${cfg.url.replace(/^http/, "ws")}${cfg.path}/?EIO=4&transport=websocket`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    const sentAt = new Map();  // ack id -> send time
    let nextId = 0;
    let seq = 0;
    const pump = () => {
      while (!stopping && sentAt.size < cfg.window && takeBudget()) {
        const id = nextId++;
        sentAt.set(id, performance.now());
        ws.send(`42${id}["user:event",${JSON.stringify(makeEvent(conn, seq++))}]`);
      }
      if (sentAt.size < cfg.window) waiting.add(pump);
      else waiting.delete(pump);
    };
    ws.on("message", (data) => {
      const text = data.toString();
      if (text === "2") {
        ws.send("3");
      } else if (text.startsWith("0")) {
        ws.send(cfg.writeKey ? `40${JSON.stringify({ writeKey: cfg.writeKey })}` : "40");
      } else if (text.startsWith("40")) {
        resolve({ start: pump, close: () => ws.close() });
      } else if (text.startsWith("44")) {
        reject(new Error(`connect refused: ${text}`));
      } else if (text.startsWith("43")) {
        const open = text.indexOf("[");
        const id = Number(text.substring(2, open));
        const t = sentAt.get(id);
        if (t !== undefined) {
          sentAt.delete(id);
          record(t, text.includes('"status":"ok"') || text.includes('"status":"duplicate"'));
          pump();
        }
      }
      // 42["event:ack",…] / 42["event:error",…] mirror the ack: not counted twice.
    });
    ws.once("error", reject);
  });
}

function httpConnection(conn) {
  let seq = 0;
  let inFlight = 0;
  const endpoint = `${cfg.url}/api/events`;
  const headers = { "content-type": "application/json" };
  if (cfg.writeKey) headers["x-write-key"] = cfg.writeKey;
  const requestsInFlight = Math.max(1, Math.floor(cfg.window / cfg.perRequest));
  const pump = () => {
    while (!stopping && inFlight < requestsInFlight && takeBudget()) {
      inFlight++;
      const events = [makeEvent(conn, seq++)];
      for (let k = 1; k < cfg.perRequest; k++) {
        budget -= 1;
        events.push(makeEvent(conn, seq++));
      }
      const sentAt = performance.now();
      fetch(endpoint, { method: "POST", headers, body: JSON.stringify({ events }) })
        .then((res) => res.json())
        .then((body) => {
          for (const r of body.results ?? []) record(sentAt, r.status === "ok" || r.status === "duplicate");
        })
        .catch(() => {
          for (let k = 0; k < events.length; k++) record(sentAt, false);
        })
        .finally(() => {
          inFlight--;
          pump();
        });
    }
    if (inFlight < requestsInFlight) waiting.add(pump);
    else waiting.delete(pump);
  };
  return Promise.resolve({ start: pump, close: () => {} });
}

// --- Run -------------------------------------------------------------------
const connect = { official: officialConnection, raw: rawConnection, http: httpConnection }[cfg.client];
if (!connect) throw new Error(`--client must be official, raw or http (got ${cfg.client})`);
const conns = await Promise.all(Array.from({ length: cfg.connections }, (_, i) => connect(i)));
for (const c of conns) c.start();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
await sleep(cfg.warmup * 1000);
measuring = true;
const t0 = performance.now();
let totalAcked = 0;
let totalErrors = 0;
if (cfg.interval > 0) {
  // One line per interval, then its latencies are forgotten: memory stays flat
  // however long the run.
  const end = t0 + cfg.duration * 1000;
  for (let k = 1; performance.now() < end; k++) {
    const from = performance.now();
    await sleep(Math.min(cfg.interval * 1000, Math.max(0, end - from)));
    const secs = (performance.now() - from) / 1000;
    const lat = latencies.subarray(0, nLat).sort();
    const p = (q) => (nLat ? Number(lat[Math.min(nLat - 1, Math.floor(q * nLat))].toFixed(2)) : null);
    console.log(JSON.stringify({ interval: k, seconds: Number(secs.toFixed(2)), acked, errors,
      ackedPerSec: Math.round(acked / secs), p50ms: p(0.5), p99ms: p(0.99) }));
    if (performance.now() < end) {
      totalAcked += acked;
      totalErrors += errors;
      acked = 0;
      errors = 0;
      nLat = 0;
    }
  }
} else {
  await sleep(cfg.duration * 1000);
}
measuring = false;
acked += totalAcked;
errors += totalErrors;
const elapsed = (performance.now() - t0) / 1000;
stopping = true;

const lat = latencies.subarray(0, nLat).sort();
const pct = (p) => (nLat ? lat[Math.min(nLat - 1, Math.floor((p / 100) * nLat))] : NaN);
const result = {
  client: cfg.client,
  transport: cfg.client === "official" ? cfg.transport : cfg.client === "raw" ? "websocket" : "http",
  connections: cfg.connections,
  window: cfg.window,
  rate: cfg.rate || null,
  seconds: Number(elapsed.toFixed(2)),
  acked,
  errors,
  ackedPerSec: Math.round(acked / elapsed),
  p50ms: Number(pct(50).toFixed(2)),
  p99ms: Number(pct(99).toFixed(2)),
  p999ms: Number(pct(99.9).toFixed(2)),
  maxms: Number((nLat ? lat[nLat - 1] : NaN).toFixed(2)),
};
if (cfg.json) {
  console.log(JSON.stringify(result));
} else {
  console.log(
    `${result.client}/${result.transport} ${cfg.connections} conns × window ${cfg.window}` +
      `${cfg.rate ? ` at ${cfg.rate}/s` : ""}: ${result.ackedPerSec} acked events/s ` +
      `(${acked} in ${result.seconds} s, ${errors} errors), latency p50 ${result.p50ms} ms, ` +
      `p99 ${result.p99ms} ms, p99.9 ${result.p999ms} ms, max ${result.maxms} ms`,
  );
}
await sleep(200);
for (const c of conns) c.close();
process.exit(0);
