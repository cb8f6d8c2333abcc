// Drives a soak run and writes its CSV: runs bench/ingest/loadgen.mjs (the
// official client, paced) with --interval, and at each interval line it prints
// samples the server: resident memory and open file descriptors from /proc,
// and the group-commit writer's commit times over the interval from /metrics
// (insightd_ingest_commit_seconds: mean, and the bucket holding the 99th
// percentile).
//
//   node bench/soak/sample.mjs --pid PID --url http://127.0.0.1:3291 \
//        --rate 10000 --connections 10 --minutes 30 --every 10 --csv out.csv
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync, appendFileSync } from "node:fs";
import { createInterface } from "node:readline";

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
const pid = Number(opt("pid"));
const url = opt("url", "http://127.0.0.1:3291");
const csv = opt("csv", "soak.csv");
const every = Number(opt("every", "10"));
const minutes = Number(opt("minutes", "30"));
if (!pid) throw new Error("--pid is required");

const rssMiB = () => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
};
const openFds = () => readdirSync(`/proc/${pid}/fd`).length;

// The commit histogram as {buckets: [[le, cumulative]], sum, count}.
async function commitHistogram() {
  const text = await (await fetch(`${url}/metrics`)).text();
  const h = { buckets: [], sum: 0, count: 0 };
  for (const line of text.split("\n")) {
    if (!line.startsWith("insightd_ingest_commit_seconds")) continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    const le = /le="([^"]+)"/.exec(line);
    if (le) h.buckets.push([le[1] === "+Inf" ? Infinity : Number(le[1]), value]);
    else if (line.startsWith("insightd_ingest_commit_seconds_sum")) h.sum = value;
    else if (line.startsWith("insightd_ingest_commit_seconds_count")) h.count = value;
  }
  return h;
}

// Mean and p99 (the upper bound of its bucket) of the commits between a and b.
function commitsBetween(a, b) {
  const n = b.count - a.count;
  if (n <= 0) return { mean: NaN, p99: NaN };
  let p99 = Infinity;
  for (let i = 0; i < b.buckets.length; i++) {
    if (b.buckets[i][1] - (a.buckets[i]?.[1] ?? 0) >= 0.99 * n) {
      p99 = b.buckets[i][0];
      break;
    }
  }
  return { mean: ((b.sum - a.sum) / n) * 1000, p99: p99 * 1000 };
}

writeFileSync(
  csv,
  "seconds,rss_mib,open_fds,acked_per_s,errors,ack_p50_ms,ack_p99_ms,commit_mean_ms,commit_p99_ms\n",
);
let before = await commitHistogram();
const t0 = Date.now();
const loadgen = spawn(
  process.execPath,
  [
    new URL("../ingest/loadgen.mjs", import.meta.url).pathname,
    "--url", url, "--client", "official", "--json", "--warmup", "0",
    "--connections", opt("connections", "10"), "--window", "50", "--rate", opt("rate", "10000"),
    "--duration", String(minutes * 60), "--interval", String(every),
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);
let rows = 0;
for await (const line of createInterface({ input: loadgen.stdout })) {
  const r = JSON.parse(line);
  if (r.interval === undefined) {
    console.log(`soak: ${r.acked} events acknowledged, ${r.errors} errors, in ${r.seconds} s`);
    continue;
  }
  const after = await commitHistogram();
  const c = commitsBetween(before, after);
  before = after;
  const row = [
    Math.round((Date.now() - t0) / 1000), rssMiB().toFixed(1), openFds(), r.ackedPerSec, r.errors,
    r.p50ms, r.p99ms, c.mean.toFixed(3), c.p99,
  ];
  appendFileSync(csv, row.join(",") + "\n");
  if (++rows % 6 === 0) console.log(`soak: ${row.join(", ")}`);
}
