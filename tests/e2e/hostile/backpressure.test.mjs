// Backpressure: a Socket.IO client that sends faster than its events can be
// committed is not read further, instead of having its events buffered. The
// writer is held up by a lock on "Event" (PostgreSQL, from another session)
// while one official client emits 20,000 user:event without waiting. Meanwhile
// the server must hold at most 2,000 of that client's events (the pause
// threshold; over polling, plus one post's worth), report the paused connection
// in /metrics, refuse nothing and stay within its memory bound; once the lock
// goes, every event is acknowledged "ok" and stored exactly once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  withServer, databases, connectSocketIo, assertAlive, RssMonitor, assertRssGrowth, validEvent, sleep, poll, unique,
} from "./hostile_harness.mjs";

const EVENTS = 20_000;
const PAUSE_AT = 2_000; // kPauseReadingAt in src/ingest/socketio_ingest.h
const LOCK_SECONDS = 6;
const postgres = databases[1][1];

async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  assert.ok(m, `/metrics has no ${name}`);
  return Number(m[1]);
}

// Holds an EXCLUSIVE lock on the schema's "Event" for `seconds` (reads go on,
// inserts wait); resolves once the lock is granted, with { ended }: a promise of
// its end (wrapped, since an async function would otherwise wait for it).
async function lockEvents(db, seconds) {
  const schema = new URL(db.url).searchParams.get("options").replace("-csearch_path=", "");
  const base = process.env.INSIGHTD_TEST_PG_URL;
  const holder = spawn("psql", [base, "-Atq", "-v", "ON_ERROR_STOP=1", "-c",
    `BEGIN; LOCK TABLE ${schema}."Event" IN EXCLUSIVE MODE; SELECT pg_sleep(${seconds}); COMMIT;`], { stdio: "ignore" });
  const ended = new Promise((resolve) => holder.on("exit", resolve));
  const granted = await poll(() => db.psql(
    `SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = '${schema}' AND c.relname = 'Event' AND l.mode = 'ExclusiveLock' AND l.granted`) === "1", 5000, 50);
  assert.ok(granted, "the lock on \"Event\" was not granted within 5 s");
  return { ended };
}

for (const transport of ["websocket", "polling"]) {
  test(`a ${transport} client flooding while commits wait is not read further; every event is acked once the lock goes`, async () => {
    // The commit deadline is longer than the lock: nothing is answered "retry" meanwhile.
    await withServer({ open: postgres, env: { INGEST_COMMIT_TIMEOUT_MS: "30000" } }, async ({ server, db }) => {
      const prefix = `bp_${unique()}`;
      const socket = await connectSocketIo(server.url, { transports: [transport] });
      const errors = [];
      socket.on("event:error", (e) => errors.push(e));
      let disconnected = null;
      socket.on("disconnect", (reason) => (disconnected = reason));
      const warm = await socket.timeout(5000).emitWithAck("user:event", validEvent(`${prefix}-warm`));
      assert.equal(warm?.status, "ok", `the first event: ${JSON.stringify(warm)}`);
      assert.equal(await metric(server.url, "insightd_socketio_connections_paused"), 0);

      const rss = new RssMonitor(server.child.pid);
      const { ended: unlocked } = await lockEvents(db, LOCK_SECONDS);
      const tLocked = Date.now();
      const acks = Array.from({ length: EVENTS }, (_, i) =>
        socket.timeout(LOCK_SECONDS * 1000 + 60_000).emitWithAck("user:event", validEvent(`${prefix}-${i}`, { metadata: { i } }))
          .catch((err) => ({ error: err.message })));

      // While the lock holds: the connection is paused and the server holds
      // few of its events (the queue, and the commit that waits on the lock).
      let paused = 0;
      let maxQueued = 0;
      let samples = 0;
      await sleep(1500);
      while (Date.now() - tLocked < (LOCK_SECONDS - 1) * 1000) {
        paused = Math.max(paused, await metric(server.url, "insightd_socketio_connections_paused"));
        maxQueued = Math.max(maxQueued, await metric(server.url, "insightd_ingest_queue_events"));
        samples++;
        await sleep(250);
      }
      const pauses = await metric(server.url, "insightd_socketio_reading_paused_total");
      console.log(`${transport}: while locked, ${samples} samples: paused connections ${paused}, at most ${maxQueued} events queued, ${pauses} pauses`);
      assert.equal(paused, 1, "the flooding connection was not reported paused while its events waited");
      assert.ok(pauses >= 1, "insightd_socketio_reading_paused_total did not count the pause");
      // A polling post (up to maxPayload, 1 MB: some 5,000 of these events) is
      // taken whole before its answer waits.
      const bound = transport === "websocket" ? PAUSE_AT : PAUSE_AT + 6_000;
      assert.ok(maxQueued <= bound, `the server queued ${maxQueued} of the client's events while they could not be committed (bound ${bound}): it kept reading`);

      assert.equal(await unlocked, 0, "the lock holder failed");
      const results = await Promise.all(acks);
      const bad = results.map((r, i) => [i, r]).filter(([i, r]) => r?.status !== "ok" || r.eventId !== `${prefix}-${i}`);
      assert.equal(bad.length, 0, `${bad.length} of ${EVENTS} events were not acked ok (disconnect: ${disconnected}): ${bad.slice(0, 3).map(([i, r]) => `${i}: ${JSON.stringify(r)}`).join("; ")}`);
      assert.deepEqual(errors.slice(0, 3), [], "event:error during backpressure");
      assert.equal(disconnected, null, "the client was disconnected");
      assert.equal(await metric(server.url, "insightd_socketio_connections_paused"), 0, "the connection stayed paused after its events were committed");
      const rows = db.rows(`SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS d FROM "Event" WHERE event_id LIKE '${prefix}-%'`);
      assert.deepEqual(rows, [{ n: EVENTS + 1, d: EVENTS + 1 }]);
      socket.close();
      assertAlive(server, "a flood under backpressure");
      assertRssGrowth(rss, 64, `${transport} flood of ${EVENTS} events under backpressure`);
    });
  });
}
