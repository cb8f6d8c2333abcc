// The dashboard's live stream and pages against a real insightd, with the
// official socket.io-client: namespace /admin refuses clients without a valid
// ticket; a signed-in admin's ticket joins it; committed events arrive within
// a second and the pipeline's metrics at once and on every change; the
// dashboard page sends anonymous visitors to the login page.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { call } from "./http.mjs";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";

const PASSWORD = "live-stream-e2e-password";

function connect(url, auth, transports = ["websocket"]) {
  return io(`${url}/admin`, { path: "/api/socket", auth, transports, reconnection: false, forceNew: true });
}

// Resolves with the CONNECT_ERROR's message, or fails when the client gets in.
function refused(socket) {
  return new Promise((resolve, reject) => {
    socket.on("connect", () => reject(new Error("joined without a valid ticket")));
    socket.on("connect_error", (err) => resolve(err.message));
  });
}

function next(socket, event, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (arg) => {
      clearTimeout(timer);
      resolve(arg);
    });
  });
}

describe("dashboard live stream", () => {
  let dir;
  let server;
  let cookie;
  let csrf;

  before(async () => {
    dir = tempDir();
    server = await startServer({ dir, env: { ADMIN_PASSWORD: PASSWORD, BATCH_MAX_EVENTS: "3" } });
    const res = await call(server.url, "/api/auth/login", { method: "POST", body: { id: "admin", password: PASSWORD } });
    assert.equal(res.status, 200);
    cookie = res.headers.get("set-cookie").split(";")[0];
    csrf = res.body.csrfToken;
  });

  after(async () => {
    if (server) await server.stop();
    cleanup(dir);
  });

  const ticket = async () => {
    const res = await call(server.url, "/api/admin/live/ticket", { method: "POST", headers: { cookie, "x-csrf-token": csrf } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.ticket;
  };

  it("sends anonymous visitors of the dashboard to the login page, and serves it with a strict CSP", async () => {
    const page = await fetch(`${server.url}/admin/analytics`, { redirect: "manual" });
    assert.equal(page.status, 303);
    assert.equal(page.headers.get("location"), "/admin/login?next=%2Fadmin%2Fanalytics");
    const login = await fetch(`${server.url}/admin/login`);
    assert.equal(login.status, 200);
    assert.match(login.headers.get("content-security-policy"), /script-src 'self'/);
    assert.match(await login.text(), /<form/i);
    const signedIn = await fetch(`${server.url}/admin/analytics`, { headers: { cookie } });
    assert.equal(signedIn.status, 200);
    assert.match(signedIn.headers.get("content-type"), /^text\/html/);
    const lib = await fetch(`${server.url}/admin/assets/vendor/socket.io.min.js`);
    assert.equal(lib.status, 200);
    const etag = lib.headers.get("etag");
    const again = await fetch(`${server.url}/admin/assets/vendor/socket.io.min.js`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
  });

  it("refuses a ticket to anonymous callers, and clients without a valid ticket", async () => {
    assert.equal((await call(server.url, "/api/admin/live/ticket", { method: "POST" })).status, 401);
    assert.match(await refused(connect(server.url, {})), /valid ticket/);
    assert.match(await refused(connect(server.url, { ticket: "9999999999999.00" })), /valid ticket/);
    const good = await ticket();
    assert.match(await refused(connect(server.url, { ticket: `${good}0` })), /valid ticket/);
  });

  for (const transports of [["websocket"], ["polling"]]) {
    it(`streams metrics and committed events to an admin (${transports[0]})`, async () => {
      const socket = connect(server.url, { ticket: await ticket() }, transports);
      try {
        const first = await next(socket, "metrics");
        assert.ok(first.jobs && first.batches && first.circuit_breaker, JSON.stringify(first));
        const before = first.events.total;

        const ids = [`live-${transports[0]}-1`, `live-${transports[0]}-2`, `live-${transports[0]}-3`];
        const seen = new Map();
        socket.on("events", (events) => {
          for (const e of events) if (ids.includes(e.eventId)) seen.set(e.eventId, { e, at: Date.now() });
        });
        const changed = next(socket, "metrics", 4000);
        const sentAt = Date.now();
        const res = await call(server.url, "/api/events", {
          method: "POST",
          body: ids.map((eventId) => ({ eventId, eventType: "page_view", userId: "u1", metadata: { page: "/live" } })),
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const ackedAt = Date.now();
        while (seen.size < ids.length && Date.now() - ackedAt < 1000) await new Promise((r) => setTimeout(r, 10));
        assert.equal(seen.size, ids.length, "every committed event reaches the stream within 1 s of its ack");
        for (const { e, at } of seen.values()) {
          assert.ok(at - ackedAt < 1000);
          assert.equal(e.eventType, "page_view");
          assert.equal(e.userId, "u1");
          assert.deepEqual(e.metadata, { page: "/live" });
          assert.equal(e.batchId, res.body.results[0].batchId);
        }
        const after = await changed;
        assert.equal(after.events.total, before + 3);
        assert.ok(after.batches.sealed + after.batches.analyzed >= 1, "three events filled a batch of three");
        assert.ok(Date.now() - sentAt < 4000);
      } finally {
        socket.close();
      }
    });
  }
});
