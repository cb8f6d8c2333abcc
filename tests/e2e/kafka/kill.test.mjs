// kill -9 of insightd in the middle of relaying a backlog: after a restart,
// every outbox row has arrived at least once, and dropping duplicates by
// outbox id gives exactly the outbox, in order per key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, postEvents, makeEvents } from "../pipeline/harness.mjs";
import { startMock, consumeAll, checkDelivered, PREFIX, OUTBOX_SQL, PENDING_SQL, PUBLISHED_SQL } from "./harness.mjs";

test("SQLite: kill -9 mid-relay, restart: every row at least once, exactly the outbox once deduplicated", async () => {
  const dir = tempDir();
  const db = join(dir, "data", "insightd.db");
  const mock = await startMock();
  const env = { KAFKA_BROKERS: mock.bootstraps, KAFKA_TOPIC_PREFIX: PREFIX, BATCH_MAX_EVENTS: "5" };
  let server;
  try {
    // A backlog with the broker down: 30,000 events, 6,000 batches, 12,000 rows.
    await mock.down();
    server = await startServer({ dir, env });
    for (let i = 0; i < 30; i++) assert.equal((await postEvents(server.url, makeEvents(`bk${i}`, 1000))).status, 200);
    await waitFor(() => rows(db, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status <> 'SUCCESS'`)[0].n === 0,
      120000, "every job done", server.log);
    const total = rows(db, OUTBOX_SQL).length;
    assert.equal(total, 12000);

    // The broker comes back; kill -9 as soon as the relay has marked some rows.
    await mock.up();
    await waitFor(() => rows(db, PUBLISHED_SQL)[0].n > 0, 60000, "the first rows published", server.log);
    assert.equal(await server.stop("SIGKILL"), "SIGKILL");
    const publishedAtKill = rows(db, PUBLISHED_SQL)[0].n;
    console.log(`killed with ${publishedAtKill} of ${total} rows marked published`);
    assert.ok(publishedAtKill < total, "the relay finished before the kill: make the backlog larger");

    server = await startServer({ dir, env });
    await waitFor(() => rows(db, PENDING_SQL)[0].n === 0, 60000, "the rest published", server.log);
    const expected = rows(db, OUTBOX_SQL);
    assert.equal(expected.length, total);
    // At least `total` messages; read until the topic has been quiet a while.
    const got = await consumeAll(mock.bootstraps, 1 << 30, 15000);
    const duplicates = checkDelivered(expected, got);
    console.log(`${total} rows, ${got.length} messages, ${duplicates} duplicates (sent again after the kill)`);
  } finally {
    if (server) await server.stop();
    mock.stop();
    cleanup(dir);
  }
});
