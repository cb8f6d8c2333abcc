// Many nodes sharing one PostgreSQL and one Redis (REDIS_URL), with the
// official socket.io-client: a dashboard on node A sees the events sent to
// node B within a second; failed logins spread over both nodes are limited as
// one; INGEST_RATE_LIMIT holds across both within 10 %; the per-address
// session cap and handshake rate hold across both; the admin figures are
// computed once for all; Redis stopped mid-run: each node carries on alone
// (ingestion, dashboard, limits), says so once and shows insightd_redis_up 0;
// Redis back: fan-out resumes without a restart. `insightd work` beside them
// exports its job durations on METRICS_PORT, which promtool accepts.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { call } from "../admin/http.mjs";
import { startServer, tempDir, cleanup, pgSchema } from "../ingest/harness.mjs";
import { waitFor, startWorker } from "../pipeline/harness.mjs";
import { startRedis } from "./redis_harness.mjs";
import { metric, signIn, dashboard as openDashboard, client as openClient, connected, sendPaced, quantile, sleep } from "./nodes.mjs";

const PROMTOOL = process.env.PROMTOOL;
if (!PROMTOOL) throw new Error("PROMTOOL must name promtool (Debian package prometheus)");
const PASSWORD = "many-nodes-e2e-password";

describe("many nodes through Redis", () => {
  let pg;
  let dir;
  let redis;
  const nodes = [];
  // Every Socket.IO client, closed at the end whatever failed (an open one
  // would keep the test's process alive, and count against the session caps).
  const sockets = [];
  const client = (...args) => {
    const s = openClient(...args);
    sockets.push(s);
    return s;
  };
  const dashboard = async (...args) => {
    const d = await openDashboard(...args);
    sockets.push(d.socket);
    return d;
  };
  const start = async (env = {}, args = ["serve"]) => {
    const n = await startServer({
      dir,
      env: { DATABASE_URL: pg.url, REDIS_URL: redis.url, ADMIN_PASSWORD: PASSWORD, AUTH_SECRET: "s".repeat(40), ...env },
      args,
    });
    nodes.push(n);
    return n;
  };

  before(async () => {
    pg = pgSchema();
    dir = tempDir();
    redis = await startRedis();
  });

  after(async () => {
    for (const s of sockets) s.close();
    for (const n of nodes) await n.stop("SIGKILL");
    if (redis) await redis.stop();
    pg.drop();
    cleanup(dir);
  });

  it("shows node B's events on node A's dashboard within a second, with one worker beside them", async () => {
    const a = await start({ BATCH_MAX_EVENTS: "100" });
    const b = await start({ BATCH_MAX_EVENTS: "100" });
    const worker = await startWorker({
      dir,
      env: { DATABASE_URL: pg.url, REDIS_URL: redis.url, METRICS_PORT: "0", HOST: "127.0.0.1", WORKER_POLL_INTERVAL_MS: "200" },
    });
    nodes.push(worker);
    for (const n of [a, b]) await waitFor(async () => (await metric(n.url, "insightd_redis_up")) === 1, 10000, "Redis up");
    const dash = await dashboard(a.url, PASSWORD);
    // Node B learns within a sync (50 ms) that a dashboard watches elsewhere.
    await sleep(300);
    const sender = client(b.url);
    await connected(sender);
    const sent = await sendPaced(sender, "fan", 1000, 500);
    await waitFor(() => dash.seen.size >= 1000, 5000, `all 1,000 on node A's dashboard (${dash.seen.size})`);
    const latencies = [...sent].map(([id, at]) => dash.seen.get(id) - at);
    const p50 = quantile(latencies, 0.5);
    const p99 = quantile(latencies, 0.99);
    const max = Math.max(...latencies);
    console.log(`fan-out B -> A over Redis, 1,000 events at 500/s: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
    // Within a second (p99; the benchmark's target is 100 ms); on this shared
    // machine, beside other tests, a stall of a moment must not fail it.
    assert.ok(p99 < 1000, `p99 ${p99.toFixed(0)} ms to reach the other node's dashboard`);
    assert.ok(max < 3000, `an event took ${max.toFixed(0)} ms to reach the other node's dashboard`);
    assert.ok((await metric(b.url, "insightd_redis_live_published_total")) >= 1000);
    assert.ok((await metric(a.url, "insightd_redis_live_received_total")) >= 1000);
    sender.close();
    dash.socket.close();

    // The worker analyses the 10 sealed batches and exports it on METRICS_PORT.
    const base = await waitFor(() => /Metrics listener on (http:\/\/[\d.]+:\d+): /.exec(worker.log())?.[1], 10000, "the metrics listener");
    await waitFor(async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const m = /^insightd_job_duration_seconds_count\{outcome="success"\} (\d+)$/m.exec(text);
      return m && Number(m[1]) >= 10;
    }, 30000, "10 job durations on the worker's /metrics", worker.log);
    for (const url of [base, a.url]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const lint = spawnSync(PROMTOOL, ["check", "metrics"], { input: text, encoding: "utf8" });
      assert.equal(lint.status, 0, `promtool check metrics (${url}):\n${lint.stdout}${lint.stderr}`);
    }
  });

  it("limits failed logins spread over both nodes as one, and computes the admin figures once for all", async () => {
    const [a, b] = nodes;
    const wrong = (url) => call(url, "/api/auth/login", { method: "POST", body: { id: "admin", password: "not-the-password" } });
    // Five failures allowed per client (LoginRateLimit), alternating between the nodes.
    for (let i = 0; i < 5; i++) assert.equal((await wrong(i % 2 ? b.url : a.url)).status, 401, `attempt ${i + 1}`);
    for (const url of [a.url, b.url]) {
      const res = await wrong(url);
      assert.equal(res.status, 429, "the sixth failure, on either node, is refused");
      assert.ok(Number(res.headers.get("retry-after")) > 0);
    }
    // The right password too, while limited: on both nodes.
    const right = await call(b.url, "/api/auth/login", { method: "POST", body: { id: "admin", password: PASSWORD } });
    assert.equal(right.status, 429);
    // A success clears the record everywhere: the limit's key goes from Redis.
    const del = spawnSync("redis-cli", ["-p", String(redis.port), "--scan", "--pattern", "insightd:login:*"], { encoding: "utf8" });
    for (const key of del.stdout.split("\n").filter(Boolean)) spawnSync("redis-cli", ["-p", String(redis.port), "DEL", key]);

    // Both nodes answer the same figures, computed once (the same generatedAt).
    const sa = await signIn(a.url, PASSWORD);
    const sb = await signIn(b.url, PASSWORD);
    const ma = await call(a.url, "/api/admin/metrics", { headers: { cookie: sa.cookie } });
    const mb = await call(b.url, "/api/admin/metrics", { headers: { cookie: sb.cookie } });
    assert.equal(ma.status, 200);
    assert.equal(mb.status, 200);
    assert.equal(ma.body.generatedAt, mb.body.generatedAt, "node B answered node A's figures from the cache");
    await sleep(1100);
    const later = await call(b.url, "/api/admin/metrics", { headers: { cookie: sb.cookie } });
    assert.notEqual(later.body.generatedAt, ma.body.generatedAt, "the figures are kept about a second");
  });

  it("holds INGEST_RATE_LIMIT across both nodes within 10 %", async () => {
    const env = { INGEST_KEYS: "rate-key-0001-abcdef,rate-key-0002-abcdef", INGEST_RATE_LIMIT: "400" };
    const c = await start(env);
    const d = await start(env);
    // HTTP on node C and Socket.IO on node D, as fast as they are answered.
    // Each node starts with a second's burst, which the senders spend at
    // whatever speed this machine lets them, each node before it hears of the
    // other's admissions (up to 50 ms later): both bursts pass, and then each
    // node owes the other's, a debt of up to a second's worth. So the rate is
    // measured over the 4 s that follow the second after both nodes first
    // refused (their buckets empty, the debt paid).
    const stored = [];  // [time, count]
    let limited429 = 0;
    let retryAfter = 0;
    let socketErrors = 0;
    const t0 = performance.now();
    const refusedAt = { c: null, d: null };
    const measuredFrom = () => (refusedAt.c !== null && refusedAt.d !== null ? Math.max(refusedAt.c, refusedAt.d) : null);
    const going = () => {
      const from = measuredFrom();
      const now = performance.now() - t0;
      return from === null ? now < 20000 : now < from + 5000;
    };
    const overHttp = async (prefix) => {
      for (let n = 0; going(); n++) {
        const events = Array.from({ length: 10 }, (_, i) => ({ eventId: `${prefix}-${n}-${i}`, eventType: "click" }));
        const res = await fetch(`${c.url}/api/events`, { method: "POST", headers: { "x-write-key": "rate-key-0001-abcdef" }, body: JSON.stringify(events) });
        const body = await res.json();
        if (res.status === 429) {
          refusedAt.c ??= performance.now() - t0;
          limited429++;
          retryAfter = Number(res.headers.get("retry-after"));
          assert.equal(body.results[0].code, "rate_limited");
          await sleep(20);
        } else {
          assert.equal(res.status, 200, JSON.stringify(body));
          stored.push([performance.now() - t0, body.accepted]);
        }
      }
    };
    const overSocket = async (prefix) => {
      const s = client(d.url, { writeKey: "rate-key-0001-abcdef" });
      await connected(s);
      for (let n = 0; going(); n++) {
        const events = Array.from({ length: 10 }, (_, i) => ({ eventId: `${prefix}-${n}-${i}`, eventType: "click" }));
        const answers = await s.timeout(10000).emitWithAck("user:events", events);
        const ok = answers.filter((x) => x.status === "ok").length;
        const limited = answers.filter((x) => x.code === "rate_limited");
        if (limited.length > 0) {
          refusedAt.d ??= performance.now() - t0;
          socketErrors++;
          assert.equal(limited[0].retryable, true);
          assert.ok(limited[0].retryAfterMs > 0);
          await sleep(20);
        }
        if (ok > 0) stored.push([performance.now() - t0, ok]);
      }
      s.close();
    };
    await Promise.all([overHttp("rh1"), overHttp("rh2"), overSocket("rs1"), overSocket("rs2")]);
    const from = measuredFrom();
    assert.ok(from !== null, "both nodes refused within 20 s");
    const steady = stored.filter(([t]) => t >= from + 1000 && t < from + 5000).reduce((sum, [, n]) => sum + n, 0);
    const rate = steady / 4;
    console.log(`INGEST_RATE_LIMIT=400 on two nodes: ${rate.toFixed(0)} events/s stored over 4 s from a second after both buckets were spent (at ${(from / 1000).toFixed(1)} s); ${limited429} answers 429 (Retry-After ${retryAfter} s), ${socketErrors} rate_limited event:error messages`);
    assert.ok(Math.abs(rate - 400) <= 40, `stored ${rate.toFixed(0)} events/s against a limit of 400`);
    assert.ok(limited429 > 0 && retryAfter >= 1);
    assert.ok(socketErrors > 0);
    // Another write key has a bucket of its own.
    const other = await fetch(`${c.url}/api/events`, { method: "POST", headers: { "x-write-key": "rate-key-0002-abcdef" }, body: JSON.stringify({ eventId: "other-key-1", eventType: "click" }) });
    assert.equal(other.status, 200);
  });

  it("holds the per-address session cap and handshake rate across both nodes", async () => {
    // One client address of its own (through a trusted proxy's
    // X-Forwarded-For), so that no other test's sessions count.
    const env = { MAX_SESSIONS_PER_ADDRESS: "6", HANDSHAKES_PER_SECOND_PER_ADDRESS: "4", TRUSTED_PROXIES: "127.0.0.1" };
    const e = await start(env);
    const f = await start(env);
    const handshake = async (url, from = "203.0.113.7") =>
      (await fetch(`${url}/api/socket/?EIO=4&transport=polling`, { headers: { "x-forwarded-for": from } })).status;
    // Four sessions on E (its bucket holds 8); F hears of them within a sync.
    for (let i = 0; i < 4; i++) assert.equal(await handshake(e.url), 200);
    // Each node writes its open sessions and reads the others' every second:
    // after two, F has read what E wrote.
    await sleep(2500);
    const onF = [];
    for (let i = 0; i < 4; i++) onF.push(await handshake(f.url));
    assert.deepEqual(onF, [200, 200, 503, 503], "six sessions per address across the two nodes");
    // The handshake rate: H's bucket pays for G's handshakes too (once H has
    // seen the address: a node new to it admits a burst before its first sync).
    const g = await start({ HANDSHAKES_PER_SECOND_PER_ADDRESS: "2", TRUSTED_PROXIES: "127.0.0.1" });
    const h = await start({ HANDSHAKES_PER_SECOND_PER_ADDRESS: "2", TRUSTED_PROXIES: "127.0.0.1" });
    assert.equal(await handshake(h.url, "203.0.113.8"), 200);
    await sleep(200);
    for (let i = 0; i < 4; i++) assert.equal(await handshake(g.url, "203.0.113.8"), 200, "a burst of two seconds' worth");
    await sleep(150);
    const onH = [];
    for (let i = 0; i < 4; i++) onH.push(await handshake(h.url, "203.0.113.8"));
    assert.ok(onH.filter((s) => s === 200).length <= 1, `node H admitted ${JSON.stringify(onH)} after node G's burst`);
  });

  it("carries on alone while Redis is down, says so once, and shares again when it is back", async () => {
    const [a, b] = nodes;
    const logBefore = [a, b].map((n) => n.log().length);
    await redis.stop();
    for (const n of [a, b]) await waitFor(async () => (await metric(n.url, "insightd_redis_up")) === 0, 10000, "insightd_redis_up 0");
    // Ingestion and the dashboard keep working on each node.
    const dashA = await dashboard(a.url, PASSWORD);
    const onA = client(a.url);
    const onB = client(b.url);
    await connected(onA);
    await connected(onB);
    await sendPaced(onA, "down-a", 50, 200);
    await sendPaced(onB, "down-b", 50, 200);
    await waitFor(() => dashA.seen.has("down-a-49"), 3000, "node A's own events on its dashboard");
    assert.equal([...dashA.seen.keys()].filter((id) => id.startsWith("down-b")).length, 0);
    await sleep(2000);  // several failed reconnections
    [a, b].forEach((n, i) => {
      const since = n.log().slice(logBefore[i]);
      const warnings = since.match(/\[Redis\] .* is unreachable/g) ?? [];
      assert.equal(warnings.length, 1, `one warning per outage:\n${since}`);
    });
    // Back: within the backoff (at most 5 s), without a restart.
    await redis.start();
    for (const n of [a, b]) await waitFor(async () => (await metric(n.url, "insightd_redis_up")) === 1, 10000, "insightd_redis_up 1");
    for (const n of [a, b]) assert.match(n.log(), /\[Redis\] Reconnected to/);
    await sleep(300);
    await sendPaced(onB, "back-b", 50, 200);
    await waitFor(() => dashA.seen.has("back-b-49"), 3000, "node B's events on node A's dashboard again");
    for (const s of [onA, onB, dashA.socket]) s.close();
  });
});
