// `insightd import` on SQLite and PostgreSQL: an export (hot and archived)
// imported into an empty database gives the same events; importing it again
// adds nothing; a file with malformed, oversized, invalid and duplicate lines
// stores the good ones and reports the rest with their line numbers (exit 3);
// the imported events are batched, sealed and analyzed like live ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, execSql, postEvents, makeEvents, cli, store, STORES } from "../pipeline/harness.mjs";

const count = (db, sql) => Number(rows(db, sql)[0].n);
const run = (dir, env, args, input) => {
  const r = spawnSync(BIN, args, { cwd: dir, env: { PATH: process.env.PATH, ...env }, encoding: "utf8", input });
  return { code: r.status, out: r.stderr, stdout: r.stdout };
};
// What an event is, whatever the database: compared sorted by eventId.
const sameShape = (e) => [e.eventId, e.eventType, e.userId, e.sessionId, e.timestamp, JSON.stringify(e.metadata)];
const readJsonl = (path) => readFileSync(path, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));

for (const name of STORES) {
  test(`${name}: export, import into an empty database, again, and a file with bad lines`, async () => {
    const dir = tempDir();
    const other = tempDir();
    const s = store(name, dir);
    const t = store(name, other);
    const env = { ...s.env, BATCH_MAX_EVENTS: "50", ARCHIVE_AFTER_DAYS: "30" };
    const envT = { ...t.env, BATCH_MAX_EVENTS: "50" };
    const server = await startServer({ dir, env });
    let target;
    try {
      // A source with 400 events, half of them archived.
      for (let i = 0; i < 8; i++) assert.equal((await postEvents(server.url, makeEvents(`m${i}`, 50))).status, 200);
      await waitFor(() => count(s.db, `SELECT COUNT(*) AS n FROM "Insight"`) === 8, 30000, "8 insights", server.log);
      await server.stop();
      const batches = rows(s.db, `SELECT batch_id FROM "Batch" ORDER BY batch_id`).map((r) => r.batch_id);
      execSql(s.db, `UPDATE "Batch" SET created_at = '2020-01-01T00:00:00.000Z', sealed_at = '2020-01-01T00:00:00.000Z'
                     WHERE batch_id IN (${batches.slice(0, 4).map((b) => `'${b}'`).join(",")})`);
      assert.equal(cli(dir, env, ["archive"]).code, 0);
      let r = run(dir, env, ["export", "--output", join(other, "all.jsonl")]);
      assert.equal(r.code, 0, r.out);
      const exported = readJsonl(join(other, "all.jsonl"));
      assert.equal(exported.length, 400);

      // Into an empty database: the same events.
      r = run(other, envT, ["import", "all.jsonl"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^read 400 lines in [\d.]+ s \(\d+ lines\/s\): 400 accepted, 0 duplicates, 0 rejected$/m);
      r = run(other, envT, ["export", "--output", "back.jsonl"]);
      assert.equal(r.code, 0, r.out);
      const back = readJsonl(join(other, "back.jsonl"));
      const sorted = (list) => list.map(sameShape).sort((a, b) => (a[0] < b[0] ? -1 : 1));
      assert.deepEqual(sorted(back), sorted(exported));
      assert.equal(count(t.db, `SELECT COUNT(*) AS n FROM "Batch" WHERE status <> 'OPEN'`), 8, "sealed in batches of 50");

      // Again, from stdin: nothing twice.
      r = run(other, envT, ["import", "-"], readFileSync(join(other, "all.jsonl"), "utf8"));
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /: 0 accepted, 400 duplicates, 0 rejected$/m);
      assert.equal(count(t.db, `SELECT COUNT(*) AS n FROM "Event"`), 400);
      // Under a terminal, the progress bar on stderr (not otherwise: above).
      const tty = spawnSync("script", ["-qec", `${BIN} import all.jsonl`, "/dev/null"],
        { cwd: other, env: { PATH: process.env.PATH, ...envT }, encoding: "utf8" });
      assert.equal(tty.status, 0, tty.stdout + tty.stderr);
      assert.match(tty.stdout, /\r\[#*\.*\] +\d+% \d+ \/ 400 lines +\d+\/s +ETA \d+:\d\d:\d\d/, "the progress bar");
      assert.match(tty.stdout, /0 accepted, 400 duplicates, 0 rejected/);
      assert.doesNotMatch(r.out, /\r\[/, "no bar without a terminal");

      // Bad lines among good ones.
      const good = makeEvents("fresh", 3).map((e) => JSON.stringify(e));
      writeFileSync(join(other, "mixed.jsonl"), [
        good[0],
        "{not json",
        JSON.stringify({ eventId: "no-type" }),
        JSON.stringify({ eventId: "huge", eventType: "x", metadata: { blob: "y".repeat(70000) } }),
        JSON.stringify(exported[0]), // already stored
        "",
        good[1],
        good[1], // the same line twice
        JSON.stringify({ eventType: "anonymous", metadata: { n: 1 } }), // no eventId
        good[2],
      ].join("\n") + "\n");
      r = run(other, envT, ["import", "mixed.jsonl"]);
      assert.equal(r.code, 3, r.out);
      assert.match(r.out, /read 9 lines .*: 4 accepted, 2 duplicates, 3 rejected \(see mixed\.jsonl\.rejected\.jsonl\)/);
      const rejected = readJsonl(join(other, "mixed.jsonl.rejected.jsonl"));
      assert.deepEqual(rejected.map((x) => [x.line, x.code]),
        [[2, "invalid_json"], [3, rejected[1].code], [4, "line_too_long"]]);
      assert.equal(rejected[1].eventId, "no-type");
      assert.match(rejected[1].reason, /eventType/);
      assert.equal(rejected[0].text, "{not json");
      // Again: the anonymous line's event is not stored twice.
      r = run(other, envT, ["import", "mixed.jsonl"]);
      assert.equal(r.code, 3);
      assert.match(r.out, /: 0 accepted, 6 duplicates, 3 rejected/);
      assert.equal(count(t.db, `SELECT COUNT(*) AS n FROM "Event"`), 404);

      // The imported events are analyzed like live ones.
      target = await startServer({ dir: other, env: envT });
      await waitFor(() => count(t.db, `SELECT COUNT(*) AS n FROM "Insight"`) === 8, 30000, "8 insights", target.log);
    } finally {
      if (target) await target.stop();
      await server.stop();
      s.drop();
      t.drop();
      cleanup(dir);
      cleanup(other);
    }
  });
}
