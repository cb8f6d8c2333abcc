// What the many-node tests and the fan-out benchmark share: a dashboard's live
// stream on a node (every event received, with when), official clients that
// send paced events each acknowledged, and a metric read from /metrics.
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { call } from "../admin/http.mjs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

export async function signIn(url, password) {
  const res = await call(url, "/api/auth/login", { method: "POST", body: { id: "admin", password } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return { cookie: res.headers.get("set-cookie").split(";")[0], csrf: res.body.csrfToken };
}

// A dashboard's live stream on `url`: every event received, with when.
export async function dashboard(url, password) {
  const { cookie, csrf } = await signIn(url, password);
  const t = await call(url, "/api/admin/live/ticket", { method: "POST", headers: { cookie, "x-csrf-token": csrf } });
  assert.equal(t.status, 200);
  const socket = io(`${url}/admin`, { path: "/api/socket", auth: { ticket: t.body.ticket }, transports: ["websocket"], forceNew: true });
  const seen = new Map();  // eventId -> arrival (ms)
  socket.on("events", (events) => {
    const now = performance.now();
    for (const e of events) if (!seen.has(e.eventId)) seen.set(e.eventId, now);
  });
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return { socket, seen };
}

export function client(url, auth = {}) {
  return io(url, { path: "/api/socket", transports: ["websocket"], forceNew: true, auth });
}

export async function connected(socket) {
  if (socket.connected) return;
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

// Sends events one by one at about `perSecond`, each acknowledged; returns the
// send time of each eventId.
export async function sendPaced(socket, prefix, count, perSecond) {
  const sent = new Map();
  const acks = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const eventId = `${prefix}-${i}`;
    sent.set(eventId, performance.now());
    acks.push(socket.timeout(10000).emitWithAck("user:event", { eventId, eventType: "click", sessionId: "s-1" }));
  }
  for (const a of await Promise.all(acks)) assert.ok(["ok", "duplicate"].includes(a.status), JSON.stringify(a));
  return sent;
}

export const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

