// Hostile timestamps: offsets and sentAt corrections that push an event's time
// outside the years 0001-9999 are refused with invalid_timestamp (never a crash),
// and batches full of extreme-but-valid times are sealed and analysed by the
// all-in-one process without taking it down. On SQLite and PostgreSQL.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  databases, withServer, postEvents, request, honestHttpLoad, assertHonest, assertAlive,
  RssMonitor, assertRssGrowth, sleep, unique,
} from "./hostile_harness.mjs";

// Each must be refused on its own: HTTP 400, results[0] rejected/invalid_timestamp.
const outOfRange = [
  ["year 10000 after a -23:59 offset", { timestamp: "9999-12-31T23:59:59.000-23:59" }],
  ["year 0 after a +01:00 offset", { timestamp: "0001-01-01T00:30:00+01:00" }],
  ["year 0 after +23:59", { timestamp: "0001-01-01T23:58:59.999+23:59" }],
  ["sentAt itself in year 10000 after its offset", { sentAt: "9999-12-31T23:59:59.000-23:59" }],
  ["sentAt itself in year 0 after its offset", { sentAt: "0001-01-01T00:00:00.000+00:01" }],
  // The client's clock runs an hour ahead: its first instant of year 1 was an hour earlier.
  ["a sentAt correction into year 0", () => ({ timestamp: "0001-01-01T00:00:00.000Z", sentAt: new Date(Date.now() + 3600e3).toISOString() })],
  ["a sentAt correction past 9999", () => ({ timestamp: "9999-12-31T23:59:59.999Z", sentAt: "0001-01-01T00:00:00.000Z" })],
  ["a sentAt correction past 9999 (both offsets extreme)", { timestamp: "9999-12-31T23:59:59.999+23:59", sentAt: "0001-01-01T23:59:00.000+23:59" }],
];

// Valid, at the edges of the range: stored and analysed.
const extremes = [
  { timestamp: "9999-12-31T23:59:59.999Z" },
  { timestamp: "0001-01-01T00:00:00.000Z" },
  { timestamp: "9999-12-31T00:00:00.000+23:59" },
  { timestamp: "0001-01-02T00:00:00.000+23:59" },
  { timestamp: "9999-12-30T00:00:00.000-23:59" },
  { timestamp: "0001-01-01T00:00:00.000Z", sentAt: "0001-01-01T00:00:00.000Z" },
  { timestamp: "2020-02-29T12:00:00.000Z", sentAt: "2020-02-29T12:00:01.000Z" },
  { timestamp: "1970-01-01T00:00:00.000Z" },
  { timestamp: "1969-12-31T23:59:59.999Z" },
  { timestamp: new Date().toISOString() },
];

for (const [dbName, open] of databases) {
  test(`timestamps outside 0001-9999 are refused, extreme valid ones are analysed, the process lives (${dbName})`, async () => {
    await withServer({ open, env: { BATCH_MAX_EVENTS: "5" } }, async ({ server, db }) => {
      const rss = new RssMonitor(server.child.pid);
      const honest = honestHttpLoad(server.url, { clients: 4 });
      const tag = unique();
      for (const [i, [what, fields]] of outOfRange.entries()) {
        const extra = typeof fields === "function" ? fields() : fields;
        for (const withId of [false, true]) {
          const body = { eventType: "x", ...(withId ? { eventId: `bad_ts_${tag}_${i}` } : {}), ...extra };
          let res;
          try {
            res = await postEvents(server.url, body, { timeoutMs: 5000 });
          } catch (err) {
            assertAlive(server, `POST of ${what} ${JSON.stringify(body)}`);
            throw new Error(`no answer to an event with ${what} ${JSON.stringify(body)}: ${err.message}`);
          }
          assert.equal(res.status, 400, `${what} ${JSON.stringify(body)}: expected 400, got ${res.status} ${res.text}`);
          const r = res.json?.results?.[0];
          assert.equal(r?.status, "rejected", `${what}: results[0] should be rejected: ${res.text}`);
          assert.equal(r?.code, "invalid_timestamp", `${what}: results[0].code should be invalid_timestamp: ${res.text}`);
          assertAlive(server, `an event with ${what}`);
        }
      }
      // Ten extreme-but-valid events (two full batches of 5), one request each, so
      // both batches are sealed and handed to the analysis workers.
      for (const [i, extra] of extremes.entries()) {
        const ev = { eventId: `edge_${tag}_${i}`, eventType: "edge_time", userId: `u${i % 3}`, metadata: { i }, ...extra };
        const res = await postEvents(server.url, ev, { timeoutMs: 5000 });
        assert.equal(res.status, 200, `the valid event ${JSON.stringify(ev)} was refused: ${res.status} ${res.text}`);
        assert.equal(res.json.results[0].status, "ok", `the valid event ${JSON.stringify(ev)}: ${res.text}`);
      }
      // The workers pick the sealed batches up at once; give them a few seconds.
      const deadline = Date.now() + 6000;
      let jobs = [];
      while (Date.now() < deadline) {
        await sleep(500);
        assertAlive(server, "the analysis of batches holding extreme timestamps");
        jobs = db.rows(`SELECT j.status FROM "AnalysisJob" j JOIN "Batch" b ON b.batch_id = j.batch_id
                        WHERE b.batch_id IN (SELECT batch_id FROM "Event" WHERE event_type = 'edge_time')`);
        if (jobs.length > 0 && jobs.every((j) => j.status === "SUCCESS" || j.status === "DEAD")) break;
      }
      console.log(`${dbName}: analysis jobs of the extreme batches: ${JSON.stringify(jobs.map((j) => j.status))}`);
      await sleep(1000);
      assertAlive(server, "the analysis of batches holding extreme timestamps");
      const ready = await request(server.url, { path: "/readyz", timeoutMs: 5000 });
      assert.equal(ready.status, 200, `GET /readyz after the attack: ${ready.status} ${ready.text}`);
      const stats = await honest.stop();
      assertHonest(stats, `${dbName} hostile timestamps`);
      assertRssGrowth(rss, 128, `${dbName} hostile timestamps`);
      assert.ok(jobs.length >= 2, `the extreme events should have sealed 2 batches with jobs, found ${jobs.length}`);
      const stored = db.rows(`SELECT event_id FROM "Event" WHERE event_id LIKE 'bad_ts_%'`);
      assert.deepEqual(stored, [], "an event with an out-of-range timestamp was stored");
      const edge = db.rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_type = 'edge_time'`);
      assert.equal(Number(edge[0].n), extremes.length);
    });
  });
}
