// kill -9 of `insightd archive` at random points of a large pass, several
// times, on SQLite and PostgreSQL: every batch is hot or archived (never both,
// never neither), every event exists exactly once, and what was archived
// restores with its checksum verified.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { BIN, startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, execSql, postEvents, makeEvents, cli, store, STORES } from "../pipeline/harness.mjs";

const count = (db, sql) => Number(rows(db, sql)[0].n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every batch's state, checked: hot (ANALYZED, its events in "Event", no live
// archive row) or archived (ARCHIVED, no events, a live archive row with its count).
function check(db, total) {
  const batches = rows(db, `SELECT b.batch_id, b.status, b.event_count,
      (SELECT COUNT(*) FROM "Event" e WHERE e.batch_id = b.batch_id) AS hot,
      (SELECT a.event_count FROM "ArchivedBatch" a WHERE a.batch_id = b.batch_id AND a.restored_at IS NULL) AS archived
    FROM "Batch" b`);
  let hot = 0;
  let archived = 0;
  for (const b of batches) {
    if (b.status === "ARCHIVED") {
      assert.equal(Number(b.hot), 0, `${b.batch_id}: archived with events left in "Event"`);
      assert.equal(Number(b.archived), Number(b.event_count), `${b.batch_id}: archived without its archive`);
      archived += Number(b.event_count);
    } else {
      assert.equal(b.status, "ANALYZED");
      assert.equal(b.archived, null, `${b.batch_id}: hot and archived`);
      assert.equal(Number(b.hot), Number(b.event_count), `${b.batch_id}: events missing`);
      hot += Number(b.hot);
    }
  }
  assert.equal(hot + archived, total);
  assert.equal(count(db, `SELECT COUNT(DISTINCT event_id) AS n FROM "Event"`), hot, "an event twice");
  return { hot, archived };
}

for (const name of STORES) {
  test(`${name}: kill -9 of an archive pass, several times: every batch hot or archived, every event once`, async () => {
    const dir = tempDir();
    const s = store(name, dir);
    const env = { ...s.env, BATCH_MAX_EVENTS: "10", ARCHIVE_AFTER_DAYS: "30" };
    const server = await startServer({ dir, env: { ...env, ARCHIVE_AFTER_DAYS: "36500" } });
    try {
      for (let i = 0; i < 20; i++) assert.equal((await postEvents(server.url, makeEvents(`k${i}`, 1000))).status, 200);
      await waitFor(() => count(s.db, `SELECT COUNT(*) AS n FROM "Batch" WHERE status = 'ANALYZED'`) === 2000,
        120000, "2,000 batches analyzed", server.log);
      await server.stop();
      execSql(s.db, `UPDATE "Batch" SET created_at = '2020-01-01T00:00:00.000Z', sealed_at = '2020-01-01T00:00:00.000Z'`);

      const kills = [];
      for (let round = 0; round < 5; round++) {
        const child = spawn(BIN, ["archive"], { cwd: dir, env: { PATH: process.env.PATH, ...env }, stdio: "ignore" });
        const exited = new Promise((r) => child.once("exit", (code, sig) => r(code ?? sig)));
        await sleep(50 + Math.floor(Math.random() * 150));
        child.kill("SIGKILL");
        const how = await exited;
        // The killed pass's lease would keep the next one out for 30 s: expire it.
        execSql(s.db, `DELETE FROM "RelayLease" WHERE name = 'archiver'`);
        const state = check(s.db, 20000);
        kills.push(`${how}: ${state.archived} archived`);
        if (state.hot === 0) break;
      }
      console.log(`kills: ${kills.join("; ")}`);
      assert.ok(kills.some((k) => k.startsWith("SIGKILL")), "no pass was killed mid-way");

      // A pass to the end, then restores: the checksums of batches archived
      // by the killed passes verify.
      const r = cli(dir, env, ["archive"]);
      assert.equal(r.code, 0, r.out);
      assert.deepEqual(check(s.db, 20000), { hot: 0, archived: 20000 });
      const sample = rows(s.db, `SELECT batch_id FROM "ArchivedBatch" ORDER BY archived_at, batch_id LIMIT 5`);
      for (const { batch_id: id } of sample) {
        const back = cli(dir, env, ["restore", id]);
        assert.equal(back.code, 0, back.out);
      }
      assert.deepEqual(check(s.db, 20000), { hot: 50, archived: 19950 });
    } finally {
      await server.stop();
      s.drop();
      cleanup(dir);
    }
  });
}
