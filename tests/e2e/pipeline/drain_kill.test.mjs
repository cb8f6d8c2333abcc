// The embedded default killed while it drains a backlog: 4,000 sealed batches
// are being analysed by the all-in-one on SQLite while a steady stream of
// events keeps arriving; kill -9 in the middle. After a restart every
// acknowledged event is stored exactly once, every sealed batch ends ANALYZED
// with exactly one insight, no job is lost or dead, and the file is intact.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, postEvents, makeEvents } from "./harness.mjs";

const env = {
  BATCH_MAX_EVENTS: "5",
  WORKER_CONCURRENCY: "4",
  JOB_LEASE_MS: "1000",
  RECOVERY_INTERVAL_MS: "200",
  STUCK_JOB_TIMEOUT_MS: "1000",
  WORKER_POLL_INTERVAL_MS: "200",
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("SQLite: kill -9 of the all-in-one while it drains a backlog loses no acked event and no job", async () => {
  const dir = tempDir();
  const db = join(dir, "data", "insightd.db");
  let server = await startServer({ dir, env });
  try {
    const acked = new Set();
    const post = async (events) => {
      const res = await postEvents(server.url, events);
      if (res.status === 200) {
        for (const r of res.body.results) if (r.status === "ok" || r.status === "duplicate") acked.add(r.eventId);
      }
      return res;
    };
    // The backlog: 20 requests of 1,000 events, 5 per batch.
    for (let i = 0; i < 20; i++) assert.equal((await post(makeEvents(`bk${i}`, 1000))).status, 200);
    const waiting = () => rows(db, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status IN ('PENDING', 'RUNNING')`)[0].n;
    await waitFor(() => rows(db, `SELECT COUNT(*) AS n FROM "AnalysisJob" WHERE status = 'SUCCESS'`)[0].n > 0, 20000,
      "the drain to start", server.log);

    // A steady stream while the workers drain: 10 events every 10 ms for 1.5 s.
    const latencies = [];
    const stream = [];
    for (let t = 0; t < 150; t++) {
      const started = Date.now();
      stream.push(post(makeEvents(`st${t}`, 10)).then((res) => {
        assert.equal(res.status, 200);
        latencies.push(Date.now() - started);
      }));
      await sleep(10);
    }
    await Promise.all(stream);
    latencies.sort((a, b) => a - b);
    const stillWaiting = waiting();
    console.log(`stream during the drain: ${latencies.length} requests, p50 ${latencies[latencies.length >> 1]} ms, ` +
      `p99 ${latencies[Math.floor(latencies.length * 0.99)]} ms, max ${latencies.at(-1)} ms; ${stillWaiting} jobs still waiting`);
    assert.ok(stillWaiting > 0, "the backlog drained before the kill: make it larger");

    // kill -9 mid-drain, restart on the same file, let it finish.
    assert.equal(await server.stop("SIGKILL"), "SIGKILL");
    server = await startServer({ dir, env });
    await waitFor(() => waiting() === 0, 120000, "the drain to finish after the restart", server.log);

    // Every acknowledged event, once.
    const stored = rows(db, `SELECT event_id, COUNT(*) AS n FROM "Event" GROUP BY event_id`);
    const count = new Map(stored.map((r) => [r.event_id, r.n]));
    const missing = [...acked].filter((id) => !count.has(id));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged events are missing`);
    assert.deepEqual(stored.filter((r) => r.n !== 1).map((r) => r.event_id).slice(0, 5), []);
    assert.equal(acked.size, 20 * 1000 + 150 * 10);

    // Every sealed batch analysed once; no job lost, none dead.
    const jobs = rows(db, `SELECT status, COUNT(*) AS n FROM "AnalysisJob" GROUP BY status`);
    assert.deepEqual(jobs.map((j) => j.status), ["SUCCESS"], JSON.stringify(jobs));
    const batches = rows(db, `SELECT status, COUNT(*) AS n FROM "Batch" GROUP BY status ORDER BY status`);
    const analyzed = batches.find((b) => b.status === "ANALYZED")?.n ?? 0;
    assert.deepEqual(batches.filter((b) => !["ANALYZED", "OPEN"].includes(b.status)), [], JSON.stringify(batches));
    assert.equal(analyzed, (20 * 1000 + 150 * 10) / 5);
    assert.equal(rows(db, `SELECT COUNT(*) AS n FROM "AnalysisJob"`)[0].n, analyzed, "one job per sealed batch");
    assert.equal(rows(db, `SELECT COUNT(*) AS n FROM "Insight"`)[0].n, analyzed, "one insight per batch");
    assert.deepEqual(rows(db, `SELECT batch_id FROM "Insight" GROUP BY batch_id HAVING COUNT(*) > 1`), []);
    assert.deepEqual(rows(db, "PRAGMA integrity_check"), [{ integrity_check: "ok" }]);
    assert.equal(await server.stop(), 0);
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});
