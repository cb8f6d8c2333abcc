// @insightd/client in Node 20 (server-side tracking) against a real insightd
// on SQLite: 10,000 events tracked at once, flush(): each stored once; the
// queue is in memory (nothing persisted), and shutdown() closes the socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, tempDir, cleanup, sqliteRows } from "../../../../tests/e2e/ingest/harness.mjs";
import { createAnalytics } from "../../packages/client/dist/index.js";

test("10,000 events from Node, flushed, stored once each", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "1000" } });
  try {
    const delivered = [];
    const a = createAnalytics({ url: server.url, onEvent: (e) => e.type === "delivered" && delivered.push(e.eventId) });
    const started = performance.now();
    const ids = [];
    for (let i = 0; i < 10_000; i++) ids.push(a.track("server_side", { i }));
    assert.equal(a.stats().queued, 10_000);
    assert.equal(await a.shutdown(60_000), true, JSON.stringify(a.stats()));
    const seconds = (performance.now() - started) / 1000;
    console.log(`10,000 events from Node in ${seconds.toFixed(2)} s (${Math.round(10_000 / seconds)} events/s): ${JSON.stringify(a.stats())}`);
    assert.equal(new Set(delivered).size, 10_000);
    const rows = sqliteRows(join(dir, "data", "insightd.db"), `SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids FROM "Event" WHERE event_type = 'server_side'`);
    assert.deepEqual(rows[0], { n: 10_000, ids: 10_000 });
    const sample = sqliteRows(join(dir, "data", "insightd.db"), `SELECT event_id FROM "Event" WHERE event_type = 'server_side' LIMIT 5`);
    for (const r of sample) assert.ok(ids.includes(r.event_id));
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});
