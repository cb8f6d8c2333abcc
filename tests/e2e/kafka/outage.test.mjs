// The broker down for 10 s while insightd is under load (ingestion sealing
// batches, workers writing insights): ingestion carries on, the relay's
// backlog grows and /metrics says the broker is down, and once the broker is
// back every outbox row arrives, in order per key. On both stores.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, postEvents, makeEvents } from "../pipeline/harness.mjs";
import {
  startMock, consumeAll, checkDelivered, store, STORES, PREFIX, OUTBOX_SQL, PENDING_SQL,
} from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const metric = async (url, name) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};

for (const name of STORES) {
  test(`${name}: a 10 s broker outage under load loses nothing and ingestion does not wait`, async () => {
    const dir = tempDir();
    const s = store(name, dir);
    const db = s.db;
    const mock = await startMock();
    const server = await startServer({
      dir,
      env: { ...s.env, KAFKA_BROKERS: mock.bootstraps, KAFKA_TOPIC_PREFIX: PREFIX, BATCH_MAX_EVENTS: "5" },
    });
    try {
      // Before: 200 events, 40 batches, their seal and insight rows published.
      assert.equal((await postEvents(server.url, makeEvents("before", 200))).status, 200);
      await waitFor(() => rows(db, `SELECT COUNT(*) AS n FROM "Insight"`)[0].n === 40, 20000, "40 insights", server.log);
      await waitFor(() => rows(db, PENDING_SQL)[0].n === 0, 20000, "the first rows published", server.log);
      assert.equal(await metric(server.url, "insightd_kafka_up"), 1);

      // The outage, under load: 25 events every 50 ms for 10 s.
      await mock.down();
      const started = Date.now();
      const latencies = [];
      let sent = 0;
      for (let i = 0; Date.now() - started < 10000; i++) {
        const t0 = Date.now();
        const res = await postEvents(server.url, makeEvents(`during${i}`, 25));
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.accepted, 25);
        latencies.push(Date.now() - t0);
        sent += 25;
        await sleep(50);
      }
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.floor(latencies.length * 0.99)];
      const waiting = rows(db, PENDING_SQL)[0].n;
      console.log(`during the outage: ${sent} events acked, p99 ${p99} ms; ${waiting} outbox rows waiting`);
      assert.ok(p99 < 1000, `ingestion waited on Kafka: p99 ${p99} ms`);
      assert.ok(waiting > 100, `the backlog did not grow (${waiting})`);
      assert.equal(await metric(server.url, "insightd_kafka_up"), 0);
      assert.ok((await metric(server.url, "insightd_outbox_pending_messages")) > 0);
      const warnings = server.log().split("\n").filter((l) => l.includes("No delivery report")).length;
      assert.equal(warnings, 1, "one warning for the outage, not one per message");

      // Back: everything leaves, in order per key.
      await mock.up();
      await waitFor(() => rows(db, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status <> 'SUCCESS'`)[0].n === 0,
        60000, "every job done", server.log);
      await waitFor(() => rows(db, PENDING_SQL)[0].n === 0, 60000, "the backlog published", server.log);
      const expected = rows(db, OUTBOX_SQL);
      assert.equal(expected.length, 2 * (40 + sent / 5));
      const got = await consumeAll(mock.bootstraps, expected.length);
      const duplicates = checkDelivered(expected, got);
      console.log(`${expected.length} rows, ${got.length} messages, ${duplicates} duplicates`);
      assert.equal(await metric(server.url, "insightd_kafka_up"), 1);
    } finally {
      await server.stop();
      mock.stop();
      s.drop();
      cleanup(dir);
    }
  });
}
