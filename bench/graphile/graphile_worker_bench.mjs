// graphile-worker 0.16 with no-op tasks, measured the way bench/queue_bench
// measures insightd's queue, so that both run side by side on one machine and
// one PostgreSQL (docs/BENCHMARKS.md):
//
//   node graphile_worker_bench.mjs latency    URL [samples=500] [concurrency=10]
//   node graphile_worker_bench.mjs throughput URL [jobs=20000] [processes=1] [concurrency=10]
//
// Works in a schema of its own and drops it afterwards. Workers run in child
// processes (this script again), like insightd's workers.
import { fork } from "node:child_process";
import { Logger, run, runMigrations, makeWorkerUtils } from "graphile-worker";
import pg from "pg";

const [mode, url, a = "", b = "", c = ""] = process.argv.slice(2);
const nowMs = () => performance.timeOrigin + performance.now();

if (mode === "worker") {
  // argv: worker URL schema concurrency
  const runner = await run({
    connectionString: url,
    schema: a,
    concurrency: Number(b),
    noHandleSignals: true,
    pollInterval: 2000,
    // Silent, as insightd's bench workers log warnings only: per-job lines
    // would measure the console.
    logger: new Logger(() => () => {}),
    taskList: {
      noop: async (payload) => {
        if (payload.t0 !== undefined) process.send({ t0: payload.t0, start: nowMs() });
      },
    },
  });
  process.send({ ready: true });
  process.on("message", async (m) => {
    if (m === "stop") {
      await runner.stop();
      process.exit(0);
    }
  });
} else {
  const schema = `gw_bench_${process.pid}`;
  const pool = new pg.Pool({ connectionString: url });
  await runMigrations({ connectionString: url, schema });
  const spawnWorker = (concurrency) =>
    new Promise((resolve) => {
      const child = fork(process.argv[1], ["worker", url, schema, String(concurrency)]);
      child.on("message", (m) => m.ready && resolve(child));
    });
  const stopAll = (children) =>
    Promise.all(children.map((ch) => new Promise((r) => (ch.once("exit", r), ch.send("stop")))));
  const pct = (v, p) => v.slice().sort((x, y) => x - y)[Math.min(v.length - 1, Math.floor(p * v.length))];
  try {
    if (mode === "latency") {
      const samples = Number(a || 500);
      const concurrency = Number(b || 10);
      const utils = await makeWorkerUtils({ connectionString: url, schema });
      const child = await spawnWorker(concurrency);
      const fromCall = [];
      const fromCommit = [];
      for (let i = 0; i < samples + 20; i++) {
        const started = new Promise((r) => child.once("message", r));
        const t0 = nowMs();
        await utils.addJob("noop", { t0 });
        const t1 = nowMs();
        const { start } = await started;
        if (i >= 20) {
          fromCall.push(start - t0);
          fromCommit.push(start - t1);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await utils.release();
      await stopAll([child]);
      console.log(`graphile-worker: ${samples} jobs, one at a time, idle worker (1 process x ${concurrency}):`);
      for (const [what, v] of [["addJob call -> start  ", fromCall], ["addJob commit -> start", fromCommit]]) {
        console.log(`  ${what}  p50 ${pct(v, 0.5).toFixed(2)} ms   p90 ${pct(v, 0.9).toFixed(2)} ms   p99 ${pct(v, 0.99).toFixed(2)} ms   max ${pct(v, 1).toFixed(2)} ms`);
      }
    } else {
      const jobs = Number(a || 20000);
      const processes = Number(b || 1);
      const concurrency = Number(c || 10);
      await pool.query(`SELECT ${schema}.add_job('noop', json_build_object('i', i)) FROM generate_series(1, $1) i`, [jobs]);
      const children = [];
      for (let p = 0; p < processes; p++) children.push(await spawnWorker(concurrency));
      // The workers are already running: time from now until the queue is empty.
      const start = nowMs();
      for (;;) {
        await new Promise((r) => setTimeout(r, 20));
        const { rows } = await pool.query(`SELECT COUNT(*)::int AS n FROM ${schema}._private_jobs`);
        if (rows[0].n === 0) break;
      }
      const seconds = (nowMs() - start) / 1000;
      await stopAll(children);
      console.log(`graphile-worker: drained ${jobs} jobs with ${processes} process(es) x ${concurrency} in ${seconds.toFixed(2)} s: ${Math.round(jobs / seconds)} jobs/s`);
    }
  } finally {
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  }
}
