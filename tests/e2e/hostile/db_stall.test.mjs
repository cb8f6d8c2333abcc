// A PostgreSQL stall (every backend of this insightd frozen with SIGSTOP for 8 s)
// must not freeze the server: every request is answered within 7 s (a
// retryable 503 with Retry-After), /readyz turns 503 within 5 s while /healthz
// stays 200; after SIGCONT /readyz is back within 10 s, new events are
// accepted, and every event ever acknowledged is stored exactly once (clients
// retry an unacknowledged event with the same eventId).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import {
  withServer, pgSchema, request, postEvents, assertAlive, RssMonitor, validEvent, sleep, poll, unique,
  sanitized, mb, MiB,
} from "./hostile_harness.mjs";

const run = promisify(execFile);
const STALL_MS = 8000;
const ANSWER_WITHIN_MS = 7000;
const READYZ_503_WITHIN_MS = 5000;
const READY_AGAIN_WITHIN_MS = 10000;

async function superuser(sql) {
  const { stdout } = await run("psql", [process.env.INSIGHTD_TEST_PG_URL, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", sql]);
  return stdout.trim();
}

// The local TCP ports of `pid`'s connections to `port` (from /proc), to find
// its backends even when application_name is not honoured.
function clientPortsOf(pid, port) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines = [];
    try {
      lines = readFileSync(table, "utf8").trim().split("\n").slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const local = parseInt(f[1].split(":")[1], 16);
      const remote = parseInt(f[2].split(":")[1], 16);
      if (remote === port && inodes.has(f[9])) ports.push(local);
    }
  }
  return ports;
}

// Backend pids of this insightd: by application_name, and by client port.
async function backends(appName, insightdPid, pgPort) {
  const byName = (await superuser(`SELECT pid FROM pg_stat_activity WHERE application_name = '${appName}'`)).split("\n").filter(Boolean).map(Number);
  const ports = clientPortsOf(insightdPid, pgPort);
  const byPort = ports.length === 0 ? [] : (await superuser(`SELECT pid FROM pg_stat_activity WHERE client_port IN (${ports.join(",")}) AND pid <> pg_backend_pid()`))
    .split("\n").filter(Boolean).map(Number);
  return { byName, byPort, all: [...new Set([...byName, ...byPort])] };
}

test("a frozen PostgreSQL: answers within 7 s, readyz 503 / healthz 200, then every acked event stored once", async () => {
  const appName = `stall_${unique()}`;
  const pgPort = Number(new URL(process.env.INSIGHTD_TEST_PG_URL ?? "postgresql://x:5432/").port || 5432);
  const open = () => {
    const pg = pgSchema();
    return { name: "PostgreSQL", env: { DATABASE_URL: `${pg.url}&application_name=${appName}` }, rows: pg.rows, drop: pg.drop };
  };
  await withServer({ open }, async ({ server, db }) => {
    const stopped = new Set();
    // Whatever happens to this test, no backend stays frozen.
    const onExit = () => cont();
    process.once("exit", onExit);
    const cont = () => {
      for (const pid of stopped) {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // gone
        }
      }
    };
    try {
      const rss = new RssMonitor(server.child.pid);
      const t0 = Date.now();
      const at = (t) => `${((t - t0) / 1000).toFixed(2)} s`;
      let tStop = Infinity;
      let tCont = Infinity;

      // Ten honest clients; an unacknowledged event is retried with the same eventId.
      const prefix = `stall_${unique()}`;
      const sent = new Set();
      const acked = new Set();
      const calls = []; // {start, end, status, id, retryAfter, error}
      const unacked = []; // events a client gave up on
      let stopping = false;
      const clients = Array.from({ length: 10 }, async (_, c) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        let pending = null;
        let n = 0;
        const giveUp = () => Date.now() > tCont + 30000;
        while ((!stopping || pending) && !giveUp()) {
          if (!pending) pending = validEvent(`${prefix}-${c}-${n++}`);
          sent.add(pending.eventId);
          const call = { start: Date.now(), id: pending.eventId };
          calls.push(call);
          try {
            const res = await postEvents(server.url, [pending], { agent, timeoutMs: 15000 });
            Object.assign(call, { end: Date.now(), status: res.status, retryAfter: res.headers["retry-after"], body: res.text.slice(0, 200) });
            const r = res.json?.results?.[0];
            if (res.status === 200 && (r?.status === "ok" || r?.status === "duplicate")) {
              acked.add(pending.eventId);
              pending = null;
            } else {
              await sleep(Math.min(500, 1000 * Number(res.headers["retry-after"] ?? 0.2)));
            }
          } catch (err) {
            Object.assign(call, { end: Date.now(), error: err.message });
            await sleep(200);
          }
          await sleep(20);
        }
        if (pending) unacked.push(pending.eventId);
        agent.destroy();
      });

      // /healthz every 250 ms (must answer 200 within 2 s); /readyz every 500 ms,
      // fired without waiting for the previous one, so a hanging one is seen as such.
      const probes = { healthz: [], readyz: [] };
      let probing = true;
      const prober = (path, every, timeoutMs) =>
        (async () => {
          const inflight = [];
          while (probing) {
            const p = { start: Date.now() };
            probes[path].push(p);
            inflight.push(
              request(server.url, { path: `/${path}`, timeoutMs })
                .then((res) => Object.assign(p, { end: Date.now(), status: res.status }))
                .catch((err) => Object.assign(p, { end: Date.now(), error: err.message })),
            );
            await sleep(every);
          }
          await Promise.all(inflight);
        })();
      const healthz = prober("healthz", 250, 2000);
      const readyz = prober("readyz", 500, 12000);

      await sleep(2000);
      const before = await backends(appName, server.child.pid, pgPort);
      console.log(`backends: ${before.byName.length} by application_name=${appName}, ${before.byPort.length} by client port`);
      assert.ok(before.all.length > 0, "found no PostgreSQL backend of this insightd to stop");
      assert.ok(acked.size > 0, "no event was acknowledged before the stall");

      // The stall: stop every backend, and any new one it opens meanwhile.
      tStop = Date.now();
      for (const pid of before.all) {
        process.kill(pid, "SIGSTOP");
        stopped.add(pid);
      }
      while (Date.now() - tStop < STALL_MS) {
        await sleep(100);
        for (const pid of (await backends(appName, server.child.pid, pgPort)).all) {
          if (!stopped.has(pid)) {
            process.kill(pid, "SIGSTOP");
            stopped.add(pid);
          }
        }
        assertAlive(server, "the database stall");
      }
      cont();
      tCont = Date.now();
      console.log(`stopped ${stopped.size} backends from ${at(tStop)} to ${at(tCont)}`);

      // Ready again within 10 s.
      let readyAt = null;
      await poll(async () => {
        try {
          const res = await request(server.url, { path: "/readyz", timeoutMs: 2000 });
          if (res.status === 200) readyAt = Date.now();
        } catch {
          // not yet
        }
        return readyAt !== null;
      }, READY_AGAIN_WITHIN_MS, 250);
      const fresh = await postEvents(server.url, validEvent(`${prefix}-after`), { timeoutMs: 5000 }).catch((e) => ({ status: e.message }));
      await sleep(3000);
      stopping = true;
      await Promise.all(clients);
      probing = false;
      await Promise.all([healthz, readyz]);
      assertAlive(server, "the database stall");

      // What happened, for the log.
      const during = calls.filter((c) => c.start < tCont && (c.end ?? Infinity) > tStop);
      const statuses = {};
      for (const c of during) statuses[c.status ?? c.error] = (statuses[c.status ?? c.error] ?? 0) + 1;
      const slowest = Math.max(0, ...calls.map((c) => (c.end ?? Date.now()) - c.start));
      // The earliest 503 answer after the stop (probes overlap: a later probe may answer first).
      const first503 = probes.readyz
        .filter((p) => p.status === 503 && p.end >= tStop)
        .reduce((a, p) => (a && a.end <= p.end ? a : p), null);
      console.log(
        `${calls.length} ingest calls, ${during.length} during the stall: ${JSON.stringify(statuses)}; slowest ${slowest} ms` +
          `; /readyz first 503 ${first503 ? `${first503.end - tStop} ms after the stop` : "never"}` +
          `; ready again ${readyAt ? `${readyAt - tCont} ms after SIGCONT` : "not within 10 s"}; ${acked.size} acked of ${sent.size} sent`,
      );

      // Every check is made, and every failed one reported together.
      const problems = [];
      const check = (ok, message) => ok || problems.push(message);
      const show = (list, fmt) => list.slice(0, 5).map(fmt).join("; ");

      // Every request answered within 7 s, during the stall a retryable 503.
      const late = calls.filter((c) => (c.end ?? Date.now()) - c.start > ANSWER_WITHIN_MS || c.error);
      check(late.length === 0, `${late.length} ingest requests were not answered within ${ANSWER_WITHIN_MS} ms (stall ${at(tStop)}-${at(tCont)}): ` +
        show(late, (c) => `${c.id} started ${at(c.start)} took ${(c.end ?? Date.now()) - c.start} ms: ${c.status ?? c.error}`));
      const wrong = during.filter((c) => !(c.status === 200 || (c.status === 503 && c.retryAfter)));
      check(wrong.length === 0, `during the stall ${wrong.length} ingest requests got something other than 200 or 503 with Retry-After: ` +
        show(wrong, (c) => `${c.id}: ${c.status ?? c.error} retry-after=${c.retryAfter} ${c.body ?? ""}`));
      check(first503 && first503.end - tStop <= READYZ_503_WITHIN_MS, `/readyz did not answer 503 within ${READYZ_503_WITHIN_MS} ms of the stop; ` +
        `its probes [started, answered] in ms after the stop: ${JSON.stringify(probes.readyz.filter((p) => p.start >= tStop - 500 && p.start < tCont).map((p) => [p.start - tStop, p.end - tStop, p.status ?? p.error]))}`);
      const lateReadyz = probes.readyz.filter((p) => p.start < tCont && (p.error || p.end - p.start > ANSWER_WITHIN_MS));
      check(lateReadyz.length === 0, `${lateReadyz.length} /readyz requests were not answered within ${ANSWER_WITHIN_MS} ms: ` +
        show(lateReadyz, (p) => `started ${at(p.start)} (${p.start - tStop} ms after the stop): ${p.error ?? `${p.end - p.start} ms, ${p.status}`}`));
      const badHealthz = probes.healthz.filter((p) => p.status !== 200);
      check(badHealthz.length === 0, `/healthz must stay 200 (within 2 s) throughout the stall: ${show(badHealthz, (p) => `${at(p.start)}: ${p.status ?? p.error}`)}`);
      check(readyAt, `/readyz was not 200 again within ${READY_AGAIN_WITHIN_MS} ms of SIGCONT`);
      check(fresh.status === 200, `a new event after the stall: ${fresh.status} ${fresh.text ?? ""}`);
      check(unacked.length === 0, `${unacked.length} events were never acknowledged, retried until ${at(tCont + 30000)}: ${unacked.slice(0, 5).join(", ")}`);

      // Every acknowledged event is stored exactly once.
      const rows = db.rows(`SELECT event_id, COUNT(*) AS n FROM "Event" WHERE event_id LIKE '${prefix}-%' GROUP BY event_id`);
      const stored = new Map(rows.map((r) => [r.event_id, Number(r.n)]));
      const twice = rows.filter((r) => Number(r.n) !== 1).map((r) => r.event_id);
      check(twice.length === 0, `events stored more than once: ${twice.slice(0, 5).join(", ")}`);
      const missing = [...acked].filter((id) => !stored.has(id));
      check(missing.length === 0, `${missing.length} acknowledged events are missing from "Event": ${missing.slice(0, 5).join(", ")}`);
      const unknown = [...stored.keys()].filter((id) => !sent.has(id) && id !== `${prefix}-after`);
      check(unknown.length === 0, `stored events nobody sent: ${unknown.slice(0, 5).join(", ")}`);
      const r = rss.stop();
      const rssBound = (sanitized() ? 256 : 128) * MiB;
      console.log(`the database stall: RSS ${mb(r.before)} before, peak ${mb(r.peak)} (growth ${mb(r.growth)}, bound ${mb(rssBound)})`);
      check(r.growth < rssBound, `RSS grew ${mb(r.growth)} during the stall (bound ${mb(rssBound)})`);
      check(before.byName.length > 0,
        `no backend had application_name=${appName} although DATABASE_URL asked for it (insightd must let the URL's application_name win; the stall used the backends found by client port)`);
      assert.deepEqual(problems, [], `the database stall went wrong:\n  ${problems.join("\n  ")}`);
    } finally {
      cont();
      process.off("exit", onExit);
    }
  });
});
