// A worker dies (kill -9) or stalls (SIGSTOP) in the middle of a job that is
// waiting on a slow analyzer API: its lease lapses, recovery hands the job to
// another worker, the batch ends ANALYZED with exactly one insight, and a
// stalled worker that wakes up later has its completion refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";
import { startWorker, startFakeOpenAI, openaiEnv, waitFor, rows, postEvents, makeEvents } from "./harness.mjs";

// Short leases so that a lapse is noticed in about a second.
const fastRecovery = {
  BATCH_MAX_EVENTS: "5",
  JOB_LEASE_MS: "1000",
  RECOVERY_INTERVAL_MS: "200",
  STUCK_JOB_TIMEOUT_MS: "1000",
  WORKER_POLL_INTERVAL_MS: "200",
};

function checkOneInsight(db) {
  const jobs = rows(db, 'SELECT status, attempt_count, crash_count, errors FROM "AnalysisJob"');
  assert.equal(jobs.length, 1);
  assert.equal(jobs[0].status, "SUCCESS");
  assert.equal(jobs[0].attempt_count, 2);
  assert.equal(jobs[0].crash_count, 1, "the lost attempt is recorded as a crash");
  const errors = typeof jobs[0].errors === "string" ? JSON.parse(jobs[0].errors) : jobs[0].errors;
  assert.match(errors[0].error, /lease expired/);
  assert.deepEqual(rows(db, 'SELECT status FROM "Batch"').map((b) => b.status), ["ANALYZED"]);
  assert.equal(rows(db, 'SELECT COUNT(*) AS n FROM "Insight"')[0].n, 1);
  assert.equal(rows(db, `SELECT COUNT(*) AS n FROM "KafkaOutbox" WHERE topic = 'insight.created'`)[0].n, 1);
}

async function assertRecoveryLines(logs) {
  await waitFor(() => /\[Recovery\] Attempt 2\/5/.test(logs()), 5000, "the recovery lines", logs);
  assert.match(logs(), /\[Recovery\] Found 1 stuck jobs/);
  assert.match(logs(), /\[Recovery\] Moving job job_\S+ back to PENDING/);
}

test("PostgreSQL: kill -9 of a worker mid-job; another worker recovers it", async () => {
  const pg = pgSchema();
  const dir = tempDir();
  const fake = await startFakeOpenAI("slow");
  const env = { DATABASE_URL: pg.url, ...openaiEnv(fake), ...fastRecovery };
  const server = await startServer({ dir, env, args: ["serve"] });
  const a = await startWorker({ dir, env });
  let b = null;
  try {
    assert.equal((await postEvents(server.url, makeEvents("k", 5))).status, 200);
    await fake.waitForRequests(1);
    const running = rows(pg, `SELECT lease_owner FROM "AnalysisJob" WHERE status = 'RUNNING'`);
    assert.equal(running.length, 1);
    assert.match(running[0].lease_owner, new RegExp(`:${a.pid}$`));
    assert.equal(await a.stop("SIGKILL"), "SIGKILL");
    await fake.answer("valid");
    b = await startWorker({ dir, env });
    await waitFor(() => rows(pg, `SELECT status FROM "AnalysisJob"`)[0].status === "SUCCESS", 15000, "recovery", b.log);
    checkOneInsight(pg);
    await assertRecoveryLines(b.log);
    assert.equal(await b.stop(), 0);
  } finally {
    await a.stop("SIGKILL");
    if (b) await b.stop("SIGKILL");
    await server.stop("SIGKILL");
    await fake.stop();
    pg.drop();
    cleanup(dir);
  }
});

test("SQLite: kill -9 of the all-in-one mid-job; the restarted process recovers it", async () => {
  const dir = tempDir();
  const fake = await startFakeOpenAI("slow");
  const env = { ...openaiEnv(fake), ...fastRecovery };
  let server = await startServer({ dir, env });
  try {
    assert.equal((await postEvents(server.url, makeEvents("s", 5))).status, 200);
    await fake.waitForRequests(1);
    assert.equal(await server.stop("SIGKILL"), "SIGKILL");
    await fake.answer("valid");
    server = await startServer({ dir, env });
    const db = join(dir, "data", "insightd.db");
    await waitFor(() => rows(db, `SELECT status FROM "AnalysisJob"`)[0].status === "SUCCESS", 15000, "recovery", server.log);
    checkOneInsight(db);
    await assertRecoveryLines(server.log);
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    await fake.stop();
    cleanup(dir);
  }
});

test("PostgreSQL: a stalled worker's late completion is refused", async () => {
  const pg = pgSchema();
  const dir = tempDir();
  const fake = await startFakeOpenAI("slow");
  const env = { DATABASE_URL: pg.url, ...openaiEnv(fake), ...fastRecovery };
  const server = await startServer({ dir, env, args: ["serve"] });
  const a = await startWorker({ dir, env });
  let b = null;
  try {
    assert.equal((await postEvents(server.url, makeEvents("z", 5))).status, 200);
    await fake.waitForRequests(1);
    a.signal("SIGSTOP"); // no heartbeats: the lease lapses while the call is out
    await fake.answer("valid");
    b = await startWorker({ dir, env });
    await waitFor(() => rows(pg, `SELECT status FROM "AnalysisJob"`)[0].status === "SUCCESS", 15000, "recovery", b.log);
    a.signal("SIGCONT"); // the slow answer arrives; A tries to complete with its old lease
    await waitFor(() => /completion refused: this worker no longer holds the lease/.test(a.log()), 15000,
      "the stale completion to be refused", a.log);
    checkOneInsight(pg);
    assert.equal(await a.stop(), 0);
    assert.equal(await b.stop(), 0);
  } finally {
    a.signal("SIGCONT");
    await a.stop("SIGKILL");
    if (b) await b.stop("SIGKILL");
    await server.stop("SIGKILL");
    await fake.stop();
    pg.drop();
    cleanup(dir);
  }
});
