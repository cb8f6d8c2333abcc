// POST /api/events against a real insightd with Node's fetch: acks only after
// commit, every ack's batchId names the batch that holds the event, sealed
// batches hold exactly BATCH_MAX_EVENTS, duplicates are stored once, and a
// kill -9 under load loses no acknowledged event.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, sqliteRows, tempDir, cleanup } from "./harness.mjs";

async function post(url, body, headers = {}) {
  const res = await fetch(`${url}/api/events`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

function event(id, extra = {}) {
  return {
    eventId: id,
    eventType: "page_view",
    userId: `user_${id.length % 7}`,
    sessionId: "session_abc",
    timestamp: new Date().toISOString(),
    metadata: { page: "/products", referrer: "/home" },
    ...extra,
  };
}

test("events are acked after commit, in the batch that holds them", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "50" } });
  try {
    const acked = new Map();
    // 12 requests of 10 events each, 4 at a time.
    for (let round = 0; round < 3; round++) {
      const posts = [];
      for (let r = 0; r < 4; r++) {
        const events = [];
        for (let i = 0; i < 10; i++) events.push(event(`r${round}-${r}-${i}`));
        posts.push(post(server.url, r % 2 ? { events } : events));
      }
      for (const res of await Promise.all(posts)) {
        assert.equal(res.status, 200, JSON.stringify(res.body));
        for (const r of res.body.results) {
          assert.equal(r.status, "ok");
          assert.match(r.batchId, /^batch_/);
          assert.ok(!Number.isNaN(Date.parse(r.receivedAt)));
          acked.set(r.eventId, r.batchId);
        }
      }
    }
    assert.equal(acked.size, 120);
    const db = join(dir, "data", "insightd.db");
    const rows = sqliteRows(db, 'SELECT event_id, batch_id FROM "Event"');
    assert.equal(rows.length, 120);
    for (const row of rows) assert.equal(acked.get(row.event_id), row.batch_id);
    const batches = sqliteRows(db, 'SELECT status, event_count, seal_reason FROM "Batch" ORDER BY batch_id');
    // The all-in-one's workers may already have analyzed the sealed batches.
    assert.deepEqual(
      batches.map((b) => [b.status === "ANALYZED" ? "SEALED" : b.status, b.event_count]),
      [["SEALED", 50], ["SEALED", 50], ["OPEN", 20]],
    );
    const jobs = sqliteRows(db, 'SELECT status FROM "AnalysisJob"');
    assert.equal(jobs.length, 2);
    // The same event again is a duplicate, with the batch of the stored copy.
    const again = await post(server.url, event("r0-0-0"));
    assert.equal(again.body.results[0].status, "duplicate");
    assert.equal(again.body.results[0].batchId, acked.get("r0-0-0"));
    assert.equal(sqliteRows(db, 'SELECT COUNT(*) AS n FROM "Event"')[0].n, 120);
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});

test("bad input gets a clear error and stores nothing", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env: { INGEST_KEYS: "k-0123456789abcdef" } });
  try {
    const key = { "x-write-key": "k-0123456789abcdef" };
    assert.equal((await post(server.url, event("a"))).status, 401);
    assert.equal((await post(server.url, "{oops", key)).status, 400);
    const invalid = await post(server.url, [{ eventType: "" }, { eventType: "x", timestamp: "yesterday" }], key);
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.results.map((r) => r.code), ["invalid_event_type", "invalid_timestamp"]);
    const big = await post(server.url, event("big", { metadata: { blob: "x".repeat(40 * 1024) } }), key);
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, "event_too_large");
    const ok = await post(server.url, event("good"), key);
    assert.equal(ok.status, 200);
    const rows = sqliteRows(join(dir, "data", "insightd.db"), 'SELECT event_id FROM "Event"');
    assert.deepEqual(rows.map((r) => r.event_id), ["good"]);
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});

test("kill -9 under load: every acknowledged event survives, none twice", async () => {
  const dir = tempDir();
  let server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "100" } });
  const acked = new Set();
  let sent = 0;
  let stop = false;
  const senders = [];
  for (let s = 0; s < 8; s++) {
    senders.push(
      (async () => {
        for (let n = 0; !stop; n++) {
          const events = [];
          for (let i = 0; i < 20; i++) events.push(event(`k${s}-${n}-${i}`));
          sent += events.length;
          try {
            const res = await post(server.url, events);
            if (res.status === 200) for (const r of res.body.results) if (r.status === "ok") acked.add(r.eventId);
          } catch {
            return; // the server is gone: unacknowledged, may or may not be stored
          }
        }
      })(),
    );
  }
  await new Promise((r) => setTimeout(r, 1500));
  await server.stop("SIGKILL");
  stop = true;
  await Promise.all(senders);
  assert.ok(acked.size > 100, `only ${acked.size} events were acknowledged before the kill`);
  // Restart on the same database: it must open cleanly and hold every ack.
  server = await startServer({ dir });
  try {
    const rows = sqliteRows(join(dir, "data", "insightd.db"), 'SELECT event_id FROM "Event"');
    const stored = new Set(rows.map((r) => r.event_id));
    assert.equal(stored.size, rows.length, "an event is stored twice");
    const missing = [...acked].filter((id) => !stored.has(id));
    assert.deepEqual(missing, [], `${missing.length} acknowledged events are missing`);
    assert.ok(rows.length <= sent);
    const over = sqliteRows(join(dir, "data", "insightd.db"), 'SELECT COUNT(*) AS n FROM "Batch" WHERE event_count > 100');
    assert.equal(over[0].n, 0);
    console.log(`kill -9: ${acked.size} acked of ${sent} sent, ${rows.length} stored, 0 lost`);
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});
