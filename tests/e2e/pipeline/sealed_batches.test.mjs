// Sealed batches become insights: 120 events over Socket.IO (user:event, the
// official client) with BATCH_MAX_EVENTS=50 make two batches sealed by size
// and one sealed by age, three SUCCESS jobs and three insights, each job
// started within 50 ms of its batch sealing. Once on the all-in-one over
// SQLite (in-process wake-up), once with one `serve` and two `work` processes
// on PostgreSQL (LISTEN/NOTIFY).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { io } from "socket.io-client";
import { startServer, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";
import { startWorker, waitFor, rows, makeEvents } from "./harness.mjs";

const env = { BATCH_MAX_EVENTS: "50", BATCH_MAX_AGE_MS: "1000", WORKER_POLL_INTERVAL_MS: "5000" };

// 120 user:event emits, 10 in flight, each acknowledged after its commit.
async function send120(url) {
  const socket = io(url, { path: "/api/socket", reconnection: false, transports: ["websocket"] });
  try {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    const events = [];
    for (let r = 0; r < 12; r++) events.push(...makeEvents(`e${r}`, 10));
    for (let i = 0; i < events.length; i += 10) {
      const acks = await Promise.all(
        events.slice(i, i + 10).map((e) => socket.timeout(10000).emitWithAck("user:event", e)),
      );
      for (const ack of acks) assert.equal(ack.status, "ok", JSON.stringify(ack));
    }
  } finally {
    socket.close();
  }
}

async function checkOutcome(db, logs) {
  // Every job's last line may still be on its way through a pipe.
  await waitFor(() => (logs().match(/\[Worker\] Created 1 insight/g) ?? []).length >= 3, 5000, "three insight lines", logs);
  const log = logs();
  const batches = rows(db, 'SELECT batch_id, status, event_count, seal_reason, sealed_at FROM "Batch" ORDER BY batch_id');
  assert.deepEqual(
    batches.map((b) => [b.status, b.event_count, b.seal_reason]),
    [["ANALYZED", 50, "size"], ["ANALYZED", 50, "size"], ["ANALYZED", 20, "age"]],
  );
  const jobs = rows(db, 'SELECT job_id, batch_id, status, attempt_count, started_at, duration_ms FROM "AnalysisJob"');
  assert.equal(jobs.length, 3);
  const insights = rows(db, 'SELECT batch_id, job_id, analyzer FROM "Insight"');
  assert.equal(insights.length, 3);
  for (const b of batches) {
    const job = jobs.find((j) => j.batch_id === b.batch_id);
    assert.equal(job.status, "SUCCESS");
    assert.equal(job.attempt_count, 1);
    const lag = Date.parse(job.started_at) - Date.parse(b.sealed_at);
    assert.ok(lag >= 0 && lag <= 50, `job ${job.job_id} started ${lag} ms after its batch sealed`);
    assert.equal(insights.filter((i) => i.batch_id === b.batch_id).length, 1);
    assert.equal(insights.find((i) => i.batch_id === b.batch_id).job_id, job.job_id);
  }
  // The seed's log lines.
  assert.match(log, /\[Worker\] Claimed job: job_/);
  assert.match(log, /\[Worker\] Processing batch: batch_\S+ \(50 events\)/);
  assert.match(log, /\[AI\] Analyzing batch\.\.\./);
  assert.match(log, /\[Worker\] Job succeeded in \d+ms/);
  assert.match(log, /\[Worker\] Created 1 insight/);
}

test("all-in-one on SQLite: 120 events, three batches, three insights", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env });
  try {
    assert.match(server.log(), /All workers started successfully/);
    await send120(server.url);
    const db = join(dir, "data", "insightd.db");
    await waitFor(
      () => rows(db, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status = 'SUCCESS'`)[0].n === 3,
      15000, "three SUCCESS jobs", server.log,
    );
    await checkOutcome(db, server.log);
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});

test("PostgreSQL: one serve and two work processes", async () => {
  const pg = pgSchema();
  const dir = tempDir();
  const pgEnv = { ...env, DATABASE_URL: pg.url };
  const server = await startServer({ dir, env: pgEnv, args: ["serve"] });
  const workers = [await startWorker({ dir, env: pgEnv }), await startWorker({ dir, env: pgEnv })];
  const logs = () => workers.map((w) => w.log()).join("\n");
  try {
    assert.match(workers[0].log(), /woken by PostgreSQL LISTEN\/NOTIFY/);
    assert.doesNotMatch(server.log(), /Claimed job/, "serve runs no workers");
    await send120(server.url);
    await waitFor(
      () => rows(pg, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status = 'SUCCESS'`)[0].n === 3,
      15000, "three SUCCESS jobs", logs,
    );
    await checkOutcome(pg, logs);
    for (const w of workers) assert.equal(await w.stop(), 0);
    assert.equal(await server.stop(), 0);
    for (const w of workers) assert.match(w.log(), /\[Shutdown\] Stopped cleanly/);
  } finally {
    for (const w of workers) await w.stop("SIGKILL");
    await server.stop("SIGKILL");
    pg.drop();
    cleanup(dir);
  }
});
