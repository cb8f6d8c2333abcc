// Poison events: metadata no store can hold (a NUL in a string or a key, a
// number that overflows a double) is refused per event with invalid_metadata,
// HTTP 400, not retryable, and never reaches the group commit, so 20 honest
// clients sending at the same time all succeed. On SQLite and PostgreSQL.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  databases, withServer, postEvents, honestHttpLoad, assertHonest, assertAlive, RssMonitor,
  assertRssGrowth, validEvent, unique,
} from "./hostile_harness.mjs";

// Raw JSON texts: "\\u0000" is the six-character JSON escape, inside the JSON text.
const poisons = [
  ["a NUL in a metadata string", (id) => `{"eventId":"${id}","eventType":"poison","metadata":{"a":"x\\u0000y"}}`],
  ["a NUL in a metadata key", (id) => `{"eventId":"${id}","eventType":"poison","metadata":{"k\\u0000ey":"v"}}`],
  ["a NUL in a nested metadata string", (id) => `{"eventId":"${id}","eventType":"poison","metadata":{"a":{"b":["ok","\\u0000"]}}}`],
  ["metadata number 1e400", (id) => `{"eventId":"${id}","eventType":"poison","metadata":{"n":1e400}}`],
  ["metadata number -1e400", (id) => `{"eventId":"${id}","eventType":"poison","metadata":{"n":-1e400}}`],
];

function checkRejected(res, what) {
  assert.equal(res.status, 400, `${what}: expected HTTP 400, got ${res.status} ${res.text.slice(0, 300)}`);
  const r = res.json?.results?.[0];
  assert.equal(r?.code, "invalid_metadata", `${what}: expected results[0].code "invalid_metadata": ${res.text.slice(0, 300)}`);
  assert.equal(r?.status, "rejected", `${what}: expected results[0].status "rejected" (not retryable): ${res.text.slice(0, 300)}`);
  assert.equal(res.headers["retry-after"], undefined, `${what}: a poison event is not retryable, yet the answer has Retry-After`);
}

for (const [dbName, open] of databases) {
  test(`poison metadata is refused per event while 20 honest clients all succeed (${dbName})`, async () => {
    await withServer({ open }, async ({ server, db }) => {
      const tag = unique();
      // Each poison alone, checked before any load.
      for (const [what, make] of poisons) {
        checkRejected(await postEvents(server.url, make(`poison_${tag}_first`), { timeoutMs: 5000 }), what);
      }
      // Mixed with a valid event in one request: the valid one is stored.
      for (const [i, [what, make]] of poisons.entries()) {
        const good = validEvent(`mixed_${tag}_${i}`);
        const res = await postEvents(server.url, `[${JSON.stringify(good)},${make(`poison_${tag}_mixed_${i}`)}]`, { timeoutMs: 5000 });
        assert.equal(res.status, 200, `a valid event next to ${what}: expected 200, got ${res.status} ${res.text.slice(0, 300)}`);
        assert.equal(res.json.results[0].status, "ok", `the valid event next to ${what}: ${res.text.slice(0, 300)}`);
        assert.equal(res.json.results[1].code, "invalid_metadata", `${what} next to a valid event: ${res.text.slice(0, 300)}`);
      }

      const rss = new RssMonitor(server.child.pid);
      const honest = honestHttpLoad(server.url, { clients: 20, eventsPerRequest: 5, deadlineMs: 5000, pauseMs: 10 });
      // 200 poison requests, 4 at a time, while the honest clients send.
      let sent = 0;
      const failures = [];
      const attackers = Array.from({ length: 4 }, async () => {
        while (sent < 200) {
          const n = sent++;
          const [what, make] = poisons[n % poisons.length];
          try {
            checkRejected(await postEvents(server.url, make(`poison_${tag}_${n}`), { timeoutMs: 5000 }), `${what} (#${n})`);
          } catch (err) {
            failures.push(err.message);
          }
        }
      });
      await Promise.all(attackers);
      const stats = await honest.stop();
      assertAlive(server, "200 poison requests");
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of 200 poison requests were not refused as expected`);
      assertHonest(stats, `${dbName}: 200 poison requests`, { minRequests: 20 });
      assertRssGrowth(rss, 128, `${dbName}: 200 poison requests`);

      const stored = db.rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_type = 'poison'`);
      assert.equal(Number(stored[0].n), 0, "a poison event was stored");
      const honestRows = db.rows(`SELECT event_id FROM "Event" WHERE event_id LIKE '${honest.prefix}-%'`);
      const ids = new Set(honestRows.map((r) => r.event_id));
      assert.equal(ids.size, honestRows.length, "an honest event is stored twice");
      const missing = [...stats.acked].filter((id) => !ids.has(id));
      assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged honest events are missing`);
    });
  });
}
