// Live fan-out across nodes: two `insightd serve` nodes on one PostgreSQL and
// one Redis; a dashboard's live stream on each node; an official
// socket.io-client sends N events to node B at a paced rate, each
// acknowledged. Reports, per run, the latency from send to arrival on node
// A's dashboard (through Redis) and on node B's own (the local stream, flushed
// every 100 ms), p50 / p99 / max, then the medians over the runs.
//
//   node bench/cluster/fanout.mjs [--runs 5] [--events 1000] [--rate 500]
// Needs INSIGHTD_BIN, INSIGHTD_TEST_PG_URL and REDIS_SERVER_BIN (run.sh sets them).
import { parseArgs } from "node:util";
import { startServer, tempDir, cleanup, pgSchema } from "../../tests/e2e/ingest/harness.mjs";
import { startRedis } from "../../tests/e2e/cluster/redis_harness.mjs";
import { dashboard, client, connected, sendPaced, quantile, sleep } from "../../tests/e2e/cluster/nodes.mjs";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "5" }, events: { type: "string", default: "1000" }, rate: { type: "string", default: "500" } },
});
const runs = Number(values.runs);
const events = Number(values.events);
const rate = Number(values.rate);
const PASSWORD = "fan-out-bench-password";

const median = (xs) => quantile(xs, 0.5);
const summary = (latencies) => ({
  p50: quantile(latencies, 0.5),
  p99: quantile(latencies, 0.99),
  max: Math.max(...latencies),
});
const fmt = (s) => `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;

const results = { remote: [], local: [] };
for (let run = 1; run <= runs; run++) {
  const pg = pgSchema();
  const dir = tempDir();
  const redis = await startRedis();
  const env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, ADMIN_PASSWORD: PASSWORD, BATCH_MAX_EVENTS: "1000", AUTH_SECRET: "b".repeat(40) };
  const a = await startServer({ dir, env, args: ["serve"] });
  const b = await startServer({ dir, env, args: ["serve"] });
  try {
    await sleep(300);
    const onA = await dashboard(a.url, PASSWORD);
    const onB = await dashboard(b.url, PASSWORD);
    await sleep(300);  // node B learns that node A watches
    const sender = client(b.url);
    await connected(sender);
    const sent = await sendPaced(sender, `run${run}`, events, rate);
    const deadline = Date.now() + 5000;
    while ((onA.seen.size < events || onB.seen.size < events) && Date.now() < deadline) await sleep(20);
    const remote = [...sent].map(([id, at]) => onA.seen.get(id) - at).filter((x) => !Number.isNaN(x));
    const local = [...sent].map(([id, at]) => onB.seen.get(id) - at).filter((x) => !Number.isNaN(x));
    if (remote.length < events || local.length < events) {
      throw new Error(`run ${run}: ${remote.length} on node A, ${local.length} on node B of ${events}`);
    }
    results.remote.push(summary(remote));
    results.local.push(summary(local));
    console.log(`run ${run}: node B -> node A's dashboard (Redis): ${fmt(results.remote.at(-1))}; node B's own dashboard: ${fmt(results.local.at(-1))}`);
    for (const s of [sender, onA.socket, onB.socket]) s.close();
  } finally {
    await a.stop("SIGKILL");
    await b.stop("SIGKILL");
    await redis.stop();
    pg.drop();
    cleanup(dir);
  }
}
const med = (list, k) => median(list.map((s) => s[k]));
for (const [name, list] of [["across nodes (Redis)", results.remote], ["same node", results.local]]) {
  console.log(`${name}, median of ${runs} runs of ${events} events at ${rate}/s: p50 ${med(list, "p50").toFixed(1)} ms, p99 ${med(list, "p99").toFixed(1)} ms, max ${med(list, "max").toFixed(1)} ms (p99 per run: ${list.map((s) => s.p99.toFixed(1)).join(" ")})`);
}
