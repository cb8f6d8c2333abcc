// `insightd export` as an operator runs it, on SQLite and PostgreSQL: every
// event, hot and archived, in order of receipt, as JSON lines and as CSV,
// filtered by type and time; the progress bar only on a terminal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, execSql, postEvents, makeEvents, cli, store, STORES } from "../pipeline/harness.mjs";

const count = (db, sql) => Number(rows(db, sql)[0].n);
// The CLI's exit code and its stderr (where the summary and the bar go).
const run = (dir, env, args) => {
  const r = spawnSync(BIN, args, { cwd: dir, env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { code: r.status, out: r.stderr };
};

for (const name of STORES) {
  test(`${name}: export, hot and archived, JSON lines and CSV, by type and time, progress on a terminal`, async () => {
    const dir = tempDir();
    const s = store(name, dir);
    const env = { ...s.env, BATCH_MAX_EVENTS: "50", ARCHIVE_AFTER_DAYS: "30" };
    const server = await startServer({ dir, env });
    const sent = [];
    try {
      for (let i = 0; i < 6; i++) {
        const events = makeEvents(`x${i}`, 50);
        events[0].metadata = { note: 'a "quoted", comma\nand a line' };
        sent.push(...events.map((e) => e.eventId));
        assert.equal((await postEvents(server.url, events)).status, 200);
      }
      await waitFor(() => count(s.db, `SELECT COUNT(*) AS n FROM "Insight"`) === 6, 30000, "6 insights", server.log);
      await server.stop();
      const batches = rows(s.db, `SELECT batch_id FROM "Batch" ORDER BY batch_id`).map((r) => r.batch_id);
      execSql(s.db, `UPDATE "Batch" SET created_at = '2020-01-01T00:00:00.000Z', sealed_at = '2020-01-01T00:00:00.000Z'
                     WHERE batch_id IN (${batches.slice(0, 3).map((b) => `'${b}'`).join(",")})`);
      assert.equal(cli(dir, env, ["archive"]).code, 0);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Event"`), 150);

      // JSON lines to a file: every event once, in order of receipt.
      let r = run(dir, env, ["export", "--output", "all.jsonl"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^exported 300 events in [\d.]+ s \(\d+ events\/s\) from 6 batches \(3 archived\) to all\.jsonl$/m);
      assert.doesNotMatch(r.out, /\r/, "no progress bar without a terminal");
      const lines = readFileSync(join(dir, "all.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((e) => e.eventId), sent);
      assert.deepEqual(Object.keys(lines[0]), ["eventId", "eventType", "userId", "sessionId", "timestamp", "receivedAt", "metadata"]);
      assert.equal(lines[0].metadata.note, 'a "quoted", comma\nand a line');

      // CSV: a header row, RFC 4180 quoting.
      r = run(dir, env, ["export", "--format", "csv", "--type", "page_view", "--output", "pv.csv"]);
      assert.equal(r.code, 0, r.out);
      const csv = readFileSync(join(dir, "pv.csv"), "utf8");
      assert.ok(csv.startsWith("eventId,eventType,userId,sessionId,timestamp,receivedAt,metadata\n"));
      const pageViews = lines.filter((e) => e.eventType === "page_view");
      assert.match(r.out, new RegExp(`^exported ${pageViews.length} events`, "m"));
      assert.match(csv, /,"\{""note"": ?""a \\""quoted\\"", comma\\nand a line""\}"\n/, "the quoted metadata");

      // By time: the receipts of the last 100 events.
      const from = lines[200].receivedAt;
      r = run(dir, env, ["export", "--from", from, "--output", "late.jsonl"]);
      assert.equal(r.code, 0, r.out);
      const late = readFileSync(join(dir, "late.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(late.map((e) => e.eventId), lines.filter((e) => e.receivedAt >= from).map((e) => e.eventId));

      // To stdout, nothing but the events there; under a terminal, the bar on stderr.
      const stdout = execFileSync(BIN, ["export"], { cwd: dir, env: { PATH: process.env.PATH, ...env }, encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"] });
      assert.equal(stdout.trim().split("\n").length, 300);
      const tty = execFileSync("script", ["-qec", `${BIN} export --output tty.jsonl`, "/dev/null"],
        { cwd: dir, env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
      assert.match(tty, /\r\[#*\.*\] +\d+% \d+ \/ 300 events +\d+\/s +ETA \d+:\d\d:\d\d/, "the progress bar");
      assert.match(tty, /exported 300 events/);
    } finally {
      await server.stop();
      s.drop();
      cleanup(dir);
    }
  });
}
