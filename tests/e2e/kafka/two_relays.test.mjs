// Two `insightd work` relaying the same PostgreSQL outbox at once (beside an
// `insightd serve`): one of them publishes, nothing twice, in order per key;
// when it is killed, the other takes over and nothing is lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";
import { startWorker, waitFor, rows, postEvents, makeEvents } from "../pipeline/harness.mjs";
import { startMock, consumeAll, checkDelivered, PREFIX, OUTBOX_SQL, PENDING_SQL } from "./harness.mjs";

const leads = (w) => w.log().split("\n").filter((l) => l.includes("This node relays the outbox now")).length;

test("PostgreSQL: two relaying workers, one publishes; kill -9 it and the other takes over", async () => {
  const dir = tempDir();
  const pg = pgSchema();
  const mock = await startMock();
  const env = { DATABASE_URL: pg.url, KAFKA_BROKERS: mock.bootstraps, KAFKA_TOPIC_PREFIX: PREFIX, BATCH_MAX_EVENTS: "5" };
  const serve = await startServer({ dir, env, args: ["serve"] });
  const a = await startWorker({ dir, env });
  const b = await startWorker({ dir, env });
  try {
    for (let i = 0; i < 4; i++) assert.equal((await postEvents(serve.url, makeEvents(`one${i}`, 500))).status, 200);
    await waitFor(() => rows(pg, `SELECT COUNT(*) AS n FROM "Insight"`)[0].n === 400, 60000, "400 insights",
      () => a.log() + b.log());
    await waitFor(() => rows(pg, PENDING_SQL)[0].n === 0, 30000, "every row published");
    assert.equal(leads(a) + leads(b), 1, "exactly one of the two relays");
    const first = rows(pg, OUTBOX_SQL);
    assert.equal(first.length, 800);
    const got = await consumeAll(mock.bootstraps, first.length);
    assert.equal(checkDelivered(first, got), 0, "nothing published twice in the normal case");

    // The leader dies; the other one takes the lease once it expires (10 s).
    const [leader, other] = leads(a) ? [a, b] : [b, a];
    await leader.stop("SIGKILL");
    for (let i = 0; i < 2; i++) assert.equal((await postEvents(serve.url, makeEvents(`two${i}`, 500))).status, 200);
    await waitFor(() => rows(pg, PENDING_SQL)[0].n === 0 && rows(pg, OUTBOX_SQL).length === 1200, 60000,
      "the new rows published by the other relay", other.log);
    assert.equal(leads(other), 1);
    const all = rows(pg, OUTBOX_SQL);
    const again = await consumeAll(mock.bootstraps, all.length);
    const duplicates = checkDelivered(all, again);
    console.log(`${all.length} rows, ${again.length} messages, ${duplicates} duplicates`);
  } finally {
    await a.stop();
    await b.stop();
    await serve.stop();
    mock.stop();
    pg.drop();
    cleanup(dir);
  }
});
