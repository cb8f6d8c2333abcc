// An analyzer API that always fails (the fake answers 401 to the right key),
// with one `serve` and two `work` processes on PostgreSQL sharing one breaker:
// it opens after BREAKER_FAILURE_THRESHOLD failures and shows OPEN with its
// failure count; while it is open jobs are handed back without using an
// attempt; after each cooldown exactly one probe goes out across both
// processes; each job reaches the dead-letter queue after exactly MAX_ATTEMPTS
// attempts with every error kept. Then the API recovers, `insightd dlq retry`
// redrives both, the next probe closes the breaker and both batches get their
// insight.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";
import {
  startWorker, startFakeOpenAI, openaiEnv, waitFor, rows, postEvents, makeEvents, cli, OPENAI_KEY,
} from "./harness.mjs";

test("the breaker opens, probes once per cooldown, and dead letters are redriven", async () => {
  const pg = pgSchema();
  const dir = tempDir();
  const fake = await startFakeOpenAI("unauthorized");
  const env = {
    DATABASE_URL: pg.url,
    ...openaiEnv(fake),
    BATCH_MAX_EVENTS: "5",
    MAX_ATTEMPTS: "5",
    BREAKER_FAILURE_THRESHOLD: "3",
    BREAKER_COOLDOWN_MS: "1000",
    RETRY_BACKOFF_BASE_MS: "50",
    RETRY_BACKOFF_MAX_MS: "100",
    WORKER_POLL_INTERVAL_MS: "200",
  };
  const server = await startServer({ dir, env, args: ["serve"] });
  const workers = [await startWorker({ dir, env }), await startWorker({ dir, env })];
  const logs = () => workers.map((w) => w.log()).join("\n");
  try {
    assert.match(workers[0].log(), /\[Circuit Breaker\] Protects AI API \(3 failures → 1 second cooldown\); now CLOSED/);
    const res = await postEvents(server.url, makeEvents("b", 10));
    assert.equal(res.status, 200);
    const jobs = () => rows(pg, 'SELECT job_id, status, attempt_count, last_error FROM "AnalysisJob" ORDER BY job_id');
    await waitFor(() => jobs().length === 2, 5000, "two jobs");

    // The breaker opens and says so.
    const opened = await waitFor(() => {
      const b = rows(pg, `SELECT state, failure_count FROM "CircuitBreaker" WHERE name = 'analyzer'`)[0];
      return b && b.state === "OPEN" ? b : null;
    }, 20000, "the breaker to open", logs);
    assert.ok(opened.failure_count >= 3, `failure count ${opened.failure_count}`);

    // Jobs wait out the cooldown without using attempts; both end DEAD.
    let sawDeferred = false;
    await waitFor(() => {
      const js = jobs();
      for (const j of js) {
        if (j.status === "PENDING" && /circuit breaker (OPEN|HALF_OPEN)/.test(j.last_error ?? "")) sawDeferred = true;
      }
      return js.every((j) => j.status === "DEAD");
    }, 60000, "both jobs to be dead-lettered", logs);
    assert.ok(sawDeferred, "a job was handed back while the breaker was open");
    const dead = jobs();
    for (const j of dead) assert.equal(j.attempt_count, 5);

    // No call without an attempt and no attempt without a call (the fake's
    // report of the last call may trail the job's state by a moment).
    await fake.waitForRequests(10, 2000);
    await new Promise((r) => setTimeout(r, 300));
    const calls = fake.requests();
    assert.equal(calls.length, 10);

    // Every change of state is in the outbox, with its time. After the first
    // opening, each cycle from one HALF_OPEN to the next lets exactly one call
    // through (the cycles are a cooldown apart, so the fake's report of a
    // call's time, a few ms late under load, cannot land in the wrong one).
    const changes = rows(pg, `SELECT payload FROM "KafkaOutbox" WHERE topic = 'circuit.state_changed' ORDER BY id`)
      .map((r) => r.payload);
    assert.equal(`${changes[0].from}->${changes[0].to}`, "CLOSED->OPEN");
    assert.equal(changes[0].failure_count >= 3, true);
    for (let i = 1; i < changes.length; i++) assert.equal(changes[i].from, changes[i - 1].to, "transitions chain");
    const halfOpens = changes.filter((c) => c.to === "HALF_OPEN").map((c) => Date.parse(c.changed_at));
    for (let i = 0; i < halfOpens.length; i++) {
      const end = i + 1 < halfOpens.length ? halfOpens[i + 1] : Infinity;
      const inCycle = calls.filter((t) => t >= halfOpens[i] && t < end).length;
      assert.equal(inCycle, 1, `HALF_OPEN at ${new Date(halfOpens[i]).toISOString()}: ${inCycle} calls`);
    }
    const probes = changes.filter((c) => c.to === "HALF_OPEN").length;
    assert.ok(probes >= 5, `${probes} probes`);
    // Each change is logged once, by the process whose write won.
    assert.equal((logs().match(/OPEN → HALF_OPEN/g) ?? []).length, probes);
    assert.equal((logs().match(/CLOSED → OPEN after/g) ?? []).length, 1);

    // The dead-letter queue keeps every attempt's error.
    const listed = cli(dir, { DATABASE_URL: pg.url }, ["dlq", "list", "--json"]);
    assert.equal(listed.code, 0, listed.out);
    const entries = JSON.parse(listed.out);
    assert.equal(entries.length, 2);
    for (const e of entries) {
      assert.equal(e.attempt_count, 5);
      assert.deepEqual(e.errors.map((x) => x.attempt), [1, 2, 3, 4, 5]);
      for (const x of e.errors) assert.match(x.error, /auth \(HTTP 401\)/);
    }
    assert.equal(rows(pg, `SELECT COUNT(*) AS n FROM "KafkaOutbox" WHERE topic = 'job.dead_lettered'`)[0].n, 2);
    await waitFor(() => /\[Dead Letter\] Job job_\S+ moved to the dead-letter queue as dlq_\S+ after 5 attempts/.test(logs()),
      5000, "the dead-letter log line", logs);

    // The API recovers; redrive both.
    await fake.answer("valid");
    for (const e of entries) {
      const r = cli(dir, { DATABASE_URL: pg.url }, ["dlq", "retry", e.dlq_id]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /redrove dlq_\S+: created job job_\S+ for batch batch_\S+ with 5 fresh attempts/);
    }
    await waitFor(
      () => rows(pg, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status = 'SUCCESS'`)[0].n === 2,
      20000, "the redriven jobs to succeed", logs,
    );
    assert.equal(rows(pg, 'SELECT COUNT(*) AS n FROM "Insight"')[0].n, 2);
    assert.equal(rows(pg, `SELECT state FROM "CircuitBreaker"`)[0].state, "CLOSED");
    // (The line may still be on its way through the pipe.)
    await waitFor(() => /HALF_OPEN → CLOSED: the probe succeeded/.test(logs()), 5000, "the CLOSED log line", logs);
    // The fake echoes the key in its 401 body; it never reaches a log.
    assert.ok(!logs().includes(OPENAI_KEY) && !server.log().includes(OPENAI_KEY), "the API key leaked");
    for (const w of workers) assert.equal(await w.stop(), 0);
  } finally {
    for (const w of workers) await w.stop("SIGKILL");
    await server.stop("SIGKILL");
    await fake.stop();
    pg.drop();
    cleanup(dir);
  }
});
