// METRICS_PORT, on SQLite and PostgreSQL: `insightd work` serves /metrics,
// /healthz and /readyz there, so the job durations are exported by the
// process that runs the jobs; without it the worker says it serves none. In
// the all-in-one process, /metrics moves from PORT to METRICS_PORT, and the
// health routes answer on both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, makeEvents, cli, store, STORES, startWorker } from "./harness.mjs";

const listenerOf = (log) => {
  const m = /Metrics listener on (http:\/\/[\d.]+:\d+): /.exec(log);
  return m && m[1];
};
const get = async (url) => {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
};

for (const name of STORES) {
  test(`${name}: insightd work serves its metrics and health on METRICS_PORT`, async () => {
    const dir = tempDir();
    const s = store(name, dir);
    const env = { ...s.env, BATCH_MAX_EVENTS: "50", WORKER_POLL_INTERVAL_MS: "200", HOST: "127.0.0.1" };
    let worker;
    try {
      // Five sealed batches waiting for their analysis.
      writeFileSync(join(dir, "events.jsonl"), makeEvents("mp", 250).map((e) => JSON.stringify(e)).join("\n") + "\n");
      const imported = cli(dir, env, ["import", "events.jsonl"]);
      assert.equal(imported.code, 0, imported.out);

      worker = await startWorker({ dir, env: { ...env, METRICS_PORT: "0" } });
      const base = await waitFor(() => listenerOf(worker.log()), 10000, "the metrics listener", worker.log);
      await waitFor(() => Number(rows(s.db, `SELECT COUNT(*) AS n FROM "Insight"`)[0].n) === 5, 30000,
        "5 insights", worker.log);

      const metrics = await get(`${base}/metrics`);
      assert.equal(metrics.status, 200);
      const count = /^insightd_job_duration_seconds_count\{outcome="success"\} (\d+)$/m.exec(metrics.text);
      assert.ok(count, metrics.text);
      assert.equal(Number(count[1]), 5, "the worker's own job durations");
      assert.match(metrics.text, /^insightd_jobs\{status="success"\} \d+$/m);
      assert.equal((await get(`${base}/healthz`)).status, 200);
      const ready = await get(`${base}/readyz`);
      assert.equal(ready.status, 200, ready.text);
      assert.equal(JSON.parse(ready.text).status, "ready");
      assert.equal((await get(`${base}/api/events`)).status, 404, "nothing else there");
      assert.equal(await worker.stop(), 0);
      worker = null;

      // Without METRICS_PORT: no listener, and the worker says so.
      worker = await startWorker({ dir, env });
      assert.match(worker.log(), /METRICS_PORT unset: this worker serves no \/metrics, \/healthz or \/readyz/);
      assert.equal(listenerOf(worker.log()), null);
    } finally {
      if (worker) await worker.stop();
      s.drop();
      cleanup(dir);
    }
  });
}

test("all-in-one: /metrics moves to METRICS_PORT, health answers on both, and the ports must differ", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env: { METRICS_PORT: "0" } });
  try {
    const base = await waitFor(() => listenerOf(server.log()), 10000, "the metrics listener", server.log);
    assert.equal((await get(`${server.url}/metrics`)).status, 404, "not on the public port");
    const metrics = await get(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^# TYPE insightd_http_requests_total counter$/m);
    assert.match(metrics.text, /^# TYPE insightd_job_duration_seconds histogram$/m);
    for (const url of [server.url, base]) {
      assert.equal((await get(`${url}/healthz`)).status, 200, url);
      assert.equal((await get(`${url}/readyz`)).status, 200, url);
    }
    assert.match(server.log(), /Health: \/healthz, readiness: \/readyz \(also on METRICS_PORT, with \/metrics\)/);
  } finally {
    await server.stop();
  }
  const same = cli(dir, { PORT: "3187", METRICS_PORT: "3187" }, ["serve"]);
  assert.equal(same.code, 1, same.out);
  assert.match(same.out, /METRICS_PORT must differ from PORT \(3187\)/);
  cleanup(dir);
});
