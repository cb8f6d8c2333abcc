// Two `insightd serve` processes on one PostgreSQL, both taking events at once:
// every event is stored once, in exactly one batch, and no batch exceeds
// BATCH_MAX_EVENTS; sealed batches hold exactly the limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, cleanup, pgSchema } from "./harness.mjs";

test("two ingest nodes share batches without overfilling one", async () => {
  const pg = pgSchema();
  const dir = tempDir();
  const env = { DATABASE_URL: pg.url, BATCH_MAX_EVENTS: "25" };
  const a = await startServer({ dir, env, args: ["serve"] });
  const b = await startServer({ dir, env, args: ["serve"] });
  try {
    const acked = new Map();
    const send = async (server, prefix) => {
      for (let n = 0; n < 40; n++) {
        const events = [];
        for (let i = 0; i < 7; i++) events.push({ eventId: `${prefix}-${n}-${i}`, eventType: "click" });
        const res = await fetch(`${server.url}/api/events`, { method: "POST", body: JSON.stringify(events) });
        assert.equal(res.status, 200);
        for (const r of (await res.json()).results) acked.set(r.eventId, r.batchId);
      }
    };
    await Promise.all([send(a, "a1"), send(a, "a2"), send(b, "b1"), send(b, "b2")]);
    assert.equal(acked.size, 4 * 40 * 7);
    assert.equal(pg.psql('SELECT COUNT(*) FROM "Event"'), String(acked.size));
    assert.equal(pg.psql('SELECT COUNT(*) FROM "Batch" WHERE event_count > 25'), "0");
    assert.equal(pg.psql(`SELECT COUNT(*) FROM "Batch" WHERE status = 'SEALED' AND event_count <> 25`), "0");
    assert.equal(pg.psql(`SELECT COUNT(*) FROM "Batch" WHERE status = 'OPEN'`), "1");
    assert.equal(
      pg.psql('SELECT COUNT(*) FROM "Batch" b WHERE event_count <> (SELECT COUNT(*) FROM "Event" e WHERE e.batch_id = b.batch_id)'),
      "0",
    );
    for (const line of pg.psql('SELECT event_id, batch_id FROM "Event"').split("\n")) {
      const [id, batch] = line.split("|");
      assert.equal(acked.get(id), batch, `the ack of ${id} names another batch`);
    }
    assert.equal(pg.psql(`SELECT COUNT(*) FROM "AnalysisJob" WHERE status = 'PENDING'`), String(Math.floor(acked.size / 25)));

    // Alone again, a node learns the open batch from its own commits and sends
    // each whole transaction at once; its guesses back off after misses (at
    // most 63 commits), so 80 requests in a row must see some go in one round trip.
    const commits = async (server) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const count = (path) => Number(text.match(new RegExp(`^insightd_ingest_commits_total\\{path="${path}"\\} (\\d+)$`, "m"))[1]);
      return { one: count("one_round_trip"), two: count("two_round_trips"), chunked: count("chunked") };
    };
    const before = await commits(a);
    for (let n = 0; n < 80; n++) {
      const res = await fetch(`${a.url}/api/events`, { method: "POST", body: JSON.stringify([{ eventId: `alone-${n}`, eventType: "click" }]) });
      assert.equal(res.status, 200);
    }
    const after = await commits(a);
    assert.ok(after.one - before.one >= 10, `one-round-trip commits: ${JSON.stringify({ before, after })}`);
    assert.equal(after.one + after.two + after.chunked - (before.one + before.two + before.chunked), 80);
    assert.equal(
      pg.psql('SELECT COUNT(*) FROM "Batch" b WHERE event_count <> (SELECT COUNT(*) FROM "Event" e WHERE e.batch_id = b.batch_id)'),
      "0",
    );
    assert.equal(pg.psql('SELECT COUNT(*) FROM "Event"'), String(acked.size + 80));
  } finally {
    await a.stop("SIGKILL");
    await b.stop("SIGKILL");
    pg.drop();
    cleanup(dir);
  }
});
