// kill -9 of insightd in the middle of relaying a backlog: after a restart,
// every outbox row has arrived at least once, and dropping duplicates by
// outbox id gives exactly the outbox, in order per key. On both stores.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, postEvents, makeEvents } from "../pipeline/harness.mjs";
import {
  startMock, consumeAll, checkDelivered, store, STORES, PREFIX, OUTBOX_SQL, PENDING_SQL, PUBLISHED_SQL,
} from "./harness.mjs";

for (const name of STORES) {
  test(`${name}: kill -9 mid-relay, restart: every row at least once, exactly the outbox once deduplicated`, async () => {
    const dir = tempDir();
    const s = store(name, dir);
    const mock = await startMock();
    const env = { ...s.env, KAFKA_BROKERS: mock.bootstraps, KAFKA_TOPIC_PREFIX: PREFIX, BATCH_MAX_EVENTS: "5" };
    let server;
    try {
      // A backlog with the broker down: 10,000 events, 2,000 batches, 4,000 rows.
      await mock.down();
      server = await startServer({ dir, env });
      for (let i = 0; i < 10; i++) {
        assert.equal((await postEvents(server.url, makeEvents(`bk${i}`, 1000))).status, 200);
      }
      await waitFor(() => rows(s.db, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status <> 'SUCCESS'`)[0].n === 0,
        120000, "every job done", server.log);
      const total = rows(s.db, OUTBOX_SQL).length;
      assert.equal(total, 4000);

      // The broker comes back, answering each request 300 ms late, so relaying
      // the backlog takes a few passes (one row per key each) of at least that
      // long; kill -9 as soon as the relay has marked some rows.
      await mock.rtt(300);
      await mock.up();
      await waitFor(() => rows(s.db, PUBLISHED_SQL)[0].n > 0, 60000, "the first rows published", server.log);
      assert.equal(await server.stop("SIGKILL"), "SIGKILL");
      const publishedAtKill = rows(s.db, PUBLISHED_SQL)[0].n;
      console.log(`killed with ${publishedAtKill} of ${total} rows marked published`);
      assert.ok(publishedAtKill < total, "the relay finished before the kill");

      await mock.rtt(0);
      server = await startServer({ dir, env });
      await waitFor(() => rows(s.db, PENDING_SQL)[0].n === 0, 60000, "the rest published", server.log);
      const expected = rows(s.db, OUTBOX_SQL);
      assert.equal(expected.length, total);
      // Every row is marked published, so the broker holds every message already:
      // read the topics to their end.
      const got = await consumeAll(mock.bootstraps, "end");
      const duplicates = checkDelivered(expected, got);
      console.log(`${total} rows, ${got.length} messages, ${duplicates} duplicates (sent again after the kill)`);
    } finally {
      if (server) await server.stop();
      mock.stop();
      s.drop();
      cleanup(dir);
    }
  });
}
