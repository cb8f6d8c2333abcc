// Shared helpers of the hostile-client suite: the server and its databases (from
// ../ingest/harness.mjs), RSS sampling, raw HTTP over node:net, a minimal
// WebSocket framer, bounded floods, and honest clients that record every failure.
//
// Every attack is bounded on the client side (bytes and seconds) so that a
// regression fails the test instead of taking the machine down.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { io } from "socket.io-client";
import { BIN, startServer as startInsightd, sqliteRows, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";

export { sqliteRows, tempDir, cleanup, pgSchema };

// Whether the binary is built with AddressSanitizer (the asan tree runs these
// tests too): its RSS includes shadow memory, redzones and the quarantine, so
// memory bounds are doubled for it and the quarantine is kept small.
let sanitizedBin;
export function sanitized() {
  sanitizedBin ??= readFileSync(BIN).includes("__asan_init");
  return sanitizedBin;
}

export function startServer({ dir, env = {}, args = [] }) {
  const asan = [process.env.ASAN_OPTIONS, "quarantine_size_mb=16"].filter(Boolean).join(":");
  return startInsightd({ dir, env: { ASAN_OPTIONS: asan, ...env }, args });
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Resolves true once predicate() holds (checked every intervalMs), false after timeoutMs.
export async function poll(predicate, timeoutMs, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

const unique = () => `${process.pid}_${Math.floor(Math.random() * 1e9)}`;

// ---------------------------------------------------------------------------
// Databases: SQLite (a file in the test's directory) and a private PostgreSQL
// schema in INSIGHTD_TEST_PG_URL. `rows(sql)` returns a query's rows as objects.

export const databases = [
  ["SQLite", (dir) => ({ name: "SQLite", env: {}, rows: (sql) => sqliteRows(join(dir, "data", "insightd.db"), sql), drop() {} })],
  [
    "PostgreSQL",
    () => {
      const pg = pgSchema();
      return { name: "PostgreSQL", env: { DATABASE_URL: pg.url }, url: pg.url, rows: pg.rows, psql: pg.psql, drop: pg.drop };
    },
  ],
];
export const sqliteOnly = [databases[0]];

// Starts insightd on a fresh database, runs fn({server, db, dir}), and always
// kills the server and removes its data afterwards.
export async function withServer({ open = databases[0][1], env = {} } = {}, fn) {
  const dir = tempDir();
  const db = open(dir);
  let server;
  try {
    server = await startServer({ dir, env: { ...db.env, ...env } });
    return await fn({ server, db, dir });
  } finally {
    if (server) await server.stop("SIGKILL");
    db.drop();
    cleanup(dir);
  }
}

// ---------------------------------------------------------------------------
// Liveness and memory.

export function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // the process is gone
  }
}

export function isAlive(server) {
  return server.child.exitCode === null && server.child.signalCode === null;
}

function logTail(server, n = 2000) {
  const log = server.log();
  return log.length > n ? `…${log.slice(-n)}` : log;
}

export function assertAlive(server, during) {
  assert.ok(
    isAlive(server),
    `insightd died during ${during} (exit code ${server.child.exitCode}, signal ${server.child.signalCode}); its log ends:\n${logTail(server)}`,
  );
}

// Samples VmRSS every `intervalMs` from construction until stop(); keeps the peak.
export class RssMonitor {
  constructor(pid, intervalMs = 50) {
    this.pid = pid;
    this.before = rssBytes(pid);
    this.peak = this.before;
    this.last = this.before;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref(); // a failed assertion must not keep the test process alive
  }
  sample() {
    const v = rssBytes(this.pid);
    if (v > 0) {
      this.last = v;
      if (v > this.peak) this.peak = v;
    }
    return v;
  }
  growth() {
    return this.peak - this.before;
  }
  stop() {
    clearInterval(this.timer);
    this.sample();
    return { before: this.before, peak: this.peak, end: this.last, growth: this.growth() };
  }
}

export const mb = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

export function assertRssGrowth(monitor, boundMiB, what) {
  const r = monitor.stop();
  if (sanitized()) boundMiB *= 2;
  const line = `${what}: RSS ${mb(r.before)} before, peak ${mb(r.peak)}, end ${mb(r.end)} (growth ${mb(r.growth)}, bound ${boundMiB} MiB)`;
  console.log(line);
  assert.ok(r.growth < boundMiB * MiB, `RSS grew too much during ${line}`);
  return r;
}

// ---------------------------------------------------------------------------
// Events and plain HTTP requests (node:http, so a client can pick its source
// address, keep its own connection and have a hard deadline).

export function validEvent(id, extra = {}) {
  return {
    eventId: id,
    eventType: "page_view",
    userId: `user_${id.length % 7}`,
    sessionId: "session_hostile",
    timestamp: new Date().toISOString(),
    metadata: { page: "/products", referrer: "/home" },
    ...extra,
  };
}

// Resolves {status, headers, text, json, ms}; rejects on a network error or
// when no complete answer came within timeoutMs (the request is then destroyed).
export function request(url, { method = "GET", path = "/", headers = {}, body, agent, localAddress, timeoutMs = 10000 } = {}) {
  const u = new URL(url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        method,
        path,
        agent: agent ?? false,
        localAddress,
        headers: { ...(payload !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}), ...headers },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString("utf8");
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode, headers: res.headers, text, json, ms: Date.now() - started });
        });
        res.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => {
      const err = new Error(`no answer to ${method} ${path} within ${timeoutMs} ms`);
      err.code = "DEADLINE";
      req.destroy(err);
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export const postEvents = (url, body, options = {}) => request(url, { method: "POST", path: "/api/events", body, ...options });

// ---------------------------------------------------------------------------
// Honest clients: each sends valid events in a loop on its own keep-alive
// connection and records every failure (status, per-event status, deadline,
// network error). stop() ends the loops and returns the tally.

// Under AddressSanitizer (a Debug build) everything is several times slower:
// honest clients' deadlines are tripled there.
const honestDeadline = (ms) => (sanitized() ? 3 * ms : ms);

export function honestHttpLoad(url, { clients = 10, prefix = `honest_${unique()}`, eventsPerRequest = 5, deadlineMs = 5000, localAddress, pauseMs = 20 } = {}) {
  deadlineMs = honestDeadline(deadlineMs);
  const stats = { requests: 0, events: 0, failures: [], failureCount: 0, maxMs: 0, acked: new Set() };
  const fail = (msg) => {
    stats.failureCount++;
    if (stats.failures.length < 10) stats.failures.push(msg);
  };
  let stopping = false;
  const loops = [];
  for (let c = 0; c < clients; c++) {
    loops.push(
      (async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1, localAddress });
        try {
          for (let n = 0; !stopping; n++) {
            const events = [];
            for (let i = 0; i < eventsPerRequest; i++) events.push(validEvent(`${prefix}-${c}-${n}-${i}`));
            try {
              const res = await postEvents(url, events, { agent, localAddress, timeoutMs: deadlineMs });
              stats.requests++;
              stats.maxMs = Math.max(stats.maxMs, res.ms);
              if (res.status !== 200) {
                fail(`client ${c}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
              } else {
                for (const [i, r] of (res.json?.results ?? []).entries()) {
                  if (r.status === "ok" && r.eventId === events[i].eventId) {
                    stats.events++;
                    stats.acked.add(r.eventId);
                  } else fail(`client ${c}: event ${events[i].eventId} got ${JSON.stringify(r)}`);
                }
                if ((res.json?.results ?? []).length !== events.length) fail(`client ${c}: ${res.json?.results?.length} results for ${events.length} events`);
              }
            } catch (err) {
              if (stopping && err.code !== "DEADLINE") break;
              fail(`client ${c}: ${err.code ?? ""} ${err.message}`);
              await sleep(100);
            }
            if (pauseMs) await sleep(pauseMs);
          }
        } finally {
          agent.destroy();
        }
      })(),
    );
  }
  return {
    stats,
    prefix,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return stats;
    },
  };
}

export function assertHonest(stats, what, { minRequests = 1 } = {}) {
  console.log(`${what}: honest clients made ${stats.requests} requests, ${stats.events} events ok, ${stats.failureCount} failures, slowest ${stats.maxMs} ms`);
  assert.equal(stats.failureCount, 0, `honest clients failed ${stats.failureCount} times during ${what}; first failures:\n  ${stats.failures.join("\n  ")}`);
  assert.ok(stats.requests >= minRequests, `honest clients completed only ${stats.requests} requests during ${what} (expected at least ${minRequests})`);
}

export function connectSocketIo(url, options = {}) {
  const socket = io(url, { path: "/api/socket", reconnection: false, transports: ["websocket"], timeout: 10000, ...options });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

// Honest Socket.IO clients (the official client over WebSocket): each keeps
// `window` user:event emits with acks in flight until stop().
export async function honestSocketIoLoad(url, { clients = 3, window = 5, prefix = `sio_${unique()}`, deadlineMs = 5000, localAddress } = {}) {
  deadlineMs = honestDeadline(deadlineMs);
  const stats = { requests: 0, events: 0, failures: [], failureCount: 0, maxMs: 0, acked: new Set() };
  const fail = (msg) => {
    stats.failureCount++;
    if (stats.failures.length < 10) stats.failures.push(msg);
  };
  const sockets = await Promise.all(Array.from({ length: clients }, () => connectSocketIo(url, localAddress ? { localAddress } : {})));
  let stopping = false;
  const loops = sockets.map((socket, c) => {
    socket.on("disconnect", (reason) => {
      if (!stopping) fail(`socket ${c} disconnected: ${reason}`);
    });
    let n = 0;
    const one = async () => {
      while (!stopping && socket.connected) {
        const id = `${prefix}-${c}-${n++}`;
        const started = Date.now();
        try {
          const ack = await socket.timeout(deadlineMs).emitWithAck("user:event", validEvent(id));
          stats.requests++;
          stats.maxMs = Math.max(stats.maxMs, Date.now() - started);
          if (ack?.status === "ok" && ack.eventId === id) {
            stats.events++;
            stats.acked.add(id);
          } else fail(`socket ${c}: ack for ${id} was ${JSON.stringify(ack)}`);
        } catch (err) {
          if (!stopping) fail(`socket ${c}: no ack for ${id} within ${deadlineMs} ms (${err.message})`);
        }
      }
    };
    return Promise.all(Array.from({ length: window }, one));
  });
  return {
    stats,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      for (const s of sockets) s.close();
      return stats;
    },
  };
}

// ---------------------------------------------------------------------------
// Raw TCP: a connection that records what the server sends (up to `keepBytes`;
// beyond that it only counts), when it ends, and whether it was reset.

export class RawConnection {
  static open(port, { host = "127.0.0.1", localAddress, keepBytes = 64 * MiB } = {}) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, localAddress });
      socket.once("connect", () => {
        socket.off("error", reject);
        resolve(new RawConnection(socket, keepBytes));
      });
      socket.once("error", reject);
    });
  }

  constructor(socket, keepBytes) {
    this.socket = socket;
    this.keepBytes = keepBytes;
    this.chunks = [];
    this.kept = 0;
    this.received = 0;
    this.ended = false; // the server sent FIN
    this.closed = false;
    this.error = null; // e.g. ECONNRESET, EPIPE
    this.closedAt = null;
    this.waiters = new Set();
    socket.setNoDelay(true);
    socket.on("data", (chunk) => {
      this.received += chunk.length;
      if (this.kept < this.keepBytes) {
        this.chunks.push(chunk);
        this.kept += chunk.length;
      }
      this.wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.closedAt ??= Date.now();
      this.wake();
    });
    socket.on("error", (err) => {
      this.error = err;
      this.closedAt ??= Date.now();
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.closedAt ??= Date.now();
      this.wake();
    });
  }

  // Whether the server has ended the connection (FIN, reset or close).
  get gone() {
    return this.ended || this.closed || this.error !== null;
  }

  data() {
    return Buffer.concat(this.chunks);
  }

  responses() {
    return parseHttpResponses(this.data());
  }

  wake() {
    for (const w of this.waiters) w();
  }

  // Resolves true once predicate() holds, false after timeoutMs.
  waitFor(predicate, timeoutMs) {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (v) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      const check = () => predicate() && done(true);
      const timer = setTimeout(() => done(predicate()), timeoutMs);
      this.waiters.add(check);
    });
  }

  write(bytes) {
    return new Promise((resolve) => {
      if (this.gone) return resolve(false);
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  destroy() {
    this.socket.destroy();
  }
}

// Parses the HTTP/1.1 responses in `buf`: [{status, headers, body, complete}].
export function parseHttpResponses(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf("\r\n\r\n", pos);
    if (end < 0) {
      out.push({ status: null, headers: {}, body: buf.subarray(pos), complete: false, raw: buf.subarray(pos, pos + 200).toString("latin1") });
      break;
    }
    const lines = buf.subarray(pos, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    const headers = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const status = m ? Number(m[1]) : null;
    let bodyStart = end + 4;
    if (status !== null && status >= 100 && status < 200 && status !== 101) {
      pos = bodyStart; // 100 Continue: no body
      continue;
    }
    if (headers["content-length"] !== undefined) {
      const len = Number(headers["content-length"]);
      const complete = bodyStart + len <= buf.length;
      out.push({ status, headers, body: buf.subarray(bodyStart, Math.min(buf.length, bodyStart + len)), complete });
      pos = bodyStart + len;
    } else if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      const parts = [];
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const le = buf.indexOf("\r\n", p);
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString("latin1"), 16);
        if (size === 0) {
          const te = buf.indexOf("\r\n\r\n", le - 2 >= p ? le - 2 : le);
          if (te >= 0) {
            p = te + 4;
            complete = true;
          }
          break;
        }
        if (le + 2 + size + 2 > buf.length) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      out.push({ status, headers, body: Buffer.concat(parts), complete });
      pos = complete ? p : buf.length;
    } else {
      out.push({ status, headers, body: buf.subarray(bodyStart), complete: true });
      pos = buf.length;
    }
  }
  return out;
}

// Writes chunks from next() as fast as the connection takes them (waiting for
// 'drain'), until `maxBytes` or `maxMs` is reached, the server ends the
// connection, or stopWhen() holds. Resolves {bytes, ms, reason}; reason is one
// of "maxBytes", "maxMs", "server closed", "stopWhen".
export async function flood(conn, next, { maxBytes, maxMs, stopWhen = () => false } = {}) {
  const socket = conn.socket;
  const started = Date.now();
  let bytes = 0;
  const reason = () => {
    if (conn.gone) return "server closed";
    if (stopWhen()) return "stopWhen";
    if (bytes >= maxBytes) return "maxBytes";
    if (Date.now() - started >= maxMs) return "maxMs";
    return null;
  };
  for (;;) {
    const r = reason();
    if (r) return { bytes, ms: Date.now() - started, reason: r };
    let chunk = next(bytes);
    if (bytes + chunk.length > maxBytes) chunk = chunk.subarray(0, maxBytes - bytes);
    bytes += chunk.length;
    const flushed = socket.write(chunk, () => {});
    if (!flushed) {
      // Wait for the kernel to take it, checking the bounds meanwhile.
      await new Promise((resolve) => {
        const tick = setInterval(() => {
          if (reason()) finish();
        }, 50);
        const finish = () => {
          clearInterval(tick);
          socket.off("drain", finish);
          conn.waiters.delete(finish);
          resolve();
        };
        socket.once("drain", finish);
        conn.waiters.add(() => conn.gone && finish());
      });
    } else if (bytes % (4 * MiB) < chunk.length) {
      await new Promise((r) => setImmediate(r)); // let the event loop breathe
    }
  }
}

// ---------------------------------------------------------------------------
// WebSocket, by hand: the upgrade request, masked client frames, and a parser
// for the server's frames.

export async function openWebSocket(port, path, { host = "127.0.0.1", localAddress, timeoutMs = 5000 } = {}) {
  const conn = await RawConnection.open(port, { host, localAddress });
  const key = randomBytes(16).toString("base64");
  await conn.write(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const ok = await conn.waitFor(() => conn.data().includes("\r\n\r\n") || conn.gone, timeoutMs);
  const data = conn.data();
  const end = data.indexOf("\r\n\r\n");
  assert.ok(ok && end >= 0, `no answer to the WebSocket upgrade of ${path} within ${timeoutMs} ms`);
  const head = data.subarray(0, end).toString("latin1");
  assert.match(head, /^HTTP\/1\.1 101/, `the WebSocket upgrade of ${path} was refused: ${head}`);
  return { conn, rest: data.subarray(end + 4) };
}

export function wsFrame(opcode, payload = Buffer.alloc(0), { fin = true, mask = true } = {}) {
  payload = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = payload.length;
  const header = [(fin ? 0x80 : 0) | opcode];
  const maskBit = mask ? 0x80 : 0;
  if (len < 126) header.push(maskBit | len);
  else if (len < 65536) header.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!mask) return Buffer.concat([Buffer.from(header), payload]);
  const key = randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([Buffer.from(header), key, masked]);
}

// Splits the server's (unmasked) frames out of a byte stream.
export class WsFrameParser {
  constructor() {
    this.buf = Buffer.alloc(0);
  }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk]);
    const frames = [];
    for (;;) {
      if (this.buf.length < 2) break;
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) break;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) break;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (b1 & 0x80) off += 4;
      if (this.buf.length < off + len) break;
      frames.push({ fin: !!(this.buf[0] & 0x80), opcode: this.buf[0] & 0x0f, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
    return frames;
  }
}

export { unique };
