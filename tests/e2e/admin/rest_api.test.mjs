// The admin REST API against a real all-in-one insightd (SQLite, built-in
// analyzer): an API token made by the signed-in admin reads the seed's metric
// keys with true values while events flow in over HTTP, anonymous calls are
// refused, a batch sealed and analyzed by hand gets its insight.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { call } from "./http.mjs";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";

const PASSWORD = "e2e admin password";


async function waitFor(check, ms, what) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("admin REST API", () => {
  let dir;
  let server;
  let auth;

  before(async () => {
    dir = tempDir();
    server = await startServer({
      dir,
      env: { ADMIN_PASSWORD: PASSWORD, BATCH_MAX_EVENTS: "10", WORKER_POLL_INTERVAL_MS: "60000" },
    });
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "admin", password: PASSWORD }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get("set-cookie").split(";")[0];
    const { csrfToken } = await login.json();
    const made = await call(server.url, "/api/admin/tokens", {
      method: "POST",
      body: { name: "e2e" },
      headers: { cookie, "x-csrf-token": csrfToken },
    });
    assert.equal(made.status, 201);
    auth = { authorization: `Bearer ${made.body.token}` };
  });

  after(async () => {
    if (server) await server.stop();
    cleanup(dir);
  });

  it("refuses anonymous callers", async () => {
    for (const path of ["/api/admin/metrics", "/api/insights", "/api/admin/batches", "/api/admin/jobs", "/api/admin/dlq"]) {
      const res = await call(server.url, path);
      assert.equal(res.status, 401, path);
      assert.equal(res.body.error.code, "unauthorized");
    }
  });

  it("reports the seed's metric keys with true values, and a batch analyzed by hand gets its insight", async () => {
    const events = Array.from({ length: 23 }, (_, i) => ({
      eventId: `rest-${i}`,
      eventType: "page_view",
      userId: `u${i % 3}`,
      metadata: { page: "/home" },
    }));
    const sent = await call(server.url, "/api/events", { method: "POST", body: { events } });
    assert.equal(sent.status, 200);
    // 23 events, batches of 10: two sealed by size (their jobs run at once), one OPEN with 3.
    const metrics = await waitFor(async () => {
      const m = (await call(server.url, "/api/admin/metrics", { headers: auth })).body;
      return m.jobs.success === 2 ? m : null;
    }, 10000, "two successful jobs");
    assert.equal(metrics.jobs.pending, 0);
    assert.equal(metrics.jobs.running, 0);
    assert.equal(metrics.batches.open, 1);
    assert.equal(metrics.batches.analyzed, 2);
    assert.equal(metrics.circuit_breaker.state, "CLOSED");
    assert.equal(metrics.dead_letter_queue.total, 0);
    assert.equal(metrics.events.total, 23);
    assert.equal(metrics.events.lastMinute, 23);

    const open = (await call(server.url, "/api/admin/batches?status=OPEN", { headers: auth })).body.batches;
    assert.equal(open.length, 1);
    assert.equal(open[0].eventCount, 3);
    const id = open[0].batchId;
    const early = await call(server.url, `/api/admin/batches/${id}/analyze`, { method: "POST", headers: auth });
    assert.equal(early.status, 409, "an OPEN batch is not analyzed");
    const sealed = await call(server.url, `/api/admin/batches/${id}/seal`, { method: "POST", headers: auth });
    assert.equal(sealed.status, 200);
    await waitFor(async () => {
      const res = await call(server.url, `/api/insights?batchId=${id}`, { headers: auth });
      return res.body.insights.length === 1;
    }, 10000, "the hand-sealed batch's insight");
    const again = await call(server.url, `/api/admin/batches/${id}/analyze`, { method: "POST", headers: auth });
    assert.equal(again.status, 202);
    assert.equal(again.body.message, "Analysis triggered successfully");
    await waitFor(async () => {
      const res = await call(server.url, `/api/insights?batchId=${id}`, { headers: auth });
      return res.body.insights.length === 2;
    }, 10000, "the manual job's insight");
    const insights = (await call(server.url, "/api/insights?limit=10", { headers: auth })).body.insights;
    assert.equal(insights.length, 4);
    assert.ok(insights[0].summary.length > 0);
    assert.ok(insights[0].confidence >= 0 && insights[0].confidence <= 1);
    const recent = (await call(server.url, "/api/admin/events?limit=5", { headers: auth })).body.events;
    assert.equal(recent.length, 5);
    assert.equal(recent[0].eventId, "rest-22");
  });
});
