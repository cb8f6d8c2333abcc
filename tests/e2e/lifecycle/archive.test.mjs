// The archive as an operator meets it, on SQLite and PostgreSQL: `insightd
// archive --dry-run` lists and changes nothing, `insightd archive` moves old
// ANALYZED batches, `insightd restore` gives back every column, a corrupt
// archive is refused and changes nothing, and the all-in-one's archiver takes
// what has become old at its start, leaving a batch restored lately alone;
// ARCHIVE_DELETE_AFTER_DAYS deletes archived events past their age.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";
import { waitFor, rows, execSql, postEvents, makeEvents, cli, store, STORES } from "../pipeline/harness.mjs";

const OLD = "2020-01-01T00:00:00.000Z";
const count = (db, sql) => Number(rows(db, sql)[0].n);
const eventsOf = (db, batch) =>
  rows(db, `SELECT id, event_id, event_type, user_id, session_id, "timestamp", received_at, clock_skew_ms,
                   metadata, batch_id, created_at FROM "Event" WHERE batch_id = '${batch}' ORDER BY id`);
const statusOf = (db, batch) => rows(db, `SELECT status FROM "Batch" WHERE batch_id = '${batch}'`)[0].status;
// Makes the batches look sealed (and created) long ago.
const backdate = (db, ids) =>
  execSql(db, `UPDATE "Batch" SET created_at = '${OLD}', sealed_at = '${OLD}'
               WHERE batch_id IN (${ids.map((i) => `'${i}'`).join(",")})`);

for (const name of STORES) {
  test(`${name}: archive --dry-run, archive, restore, a corrupt archive refused, the archiver at start`, async () => {
    const dir = tempDir();
    const s = store(name, dir);
    const env = { ...s.env, BATCH_MAX_EVENTS: "10", ARCHIVE_AFTER_DAYS: "30" };
    let server = await startServer({ dir, env });
    try {
      assert.equal((await postEvents(server.url, makeEvents("a", 200))).status, 200);
      await waitFor(() => count(s.db, `SELECT COUNT(*) AS n FROM "Insight"`) === 20, 30000, "20 insights", server.log);
      await server.stop();
      const batches = rows(s.db, `SELECT batch_id FROM "Batch" ORDER BY created_at, batch_id`).map((r) => r.batch_id);
      assert.equal(batches.length, 20);
      const old = batches.slice(0, 15);
      backdate(s.db, old);
      const before = eventsOf(s.db, old[3]);
      const ids0 = eventsOf(s.db, old[0]).map((e) => e.event_id);
      assert.equal(before.length, 10);

      // A dry run lists the 15 and changes nothing.
      let r = cli(dir, env, ["archive", "--dry-run"]);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.split("\n").filter((l) => l.startsWith("would archive ")).length, 15, r.out);
      assert.match(r.out, /15 batches \(150 events\) sealed more than 30 days ago would move; nothing changed/);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Event"`), 200);

      // The pass moves them.
      r = cli(dir, env, ["archive"]);
      assert.equal(r.code, 0, r.out);
      assert.equal(r.out.split("\n").filter((l) => l.startsWith("archived ")).length, 15, r.out);
      assert.match(r.out, /15 batches archived \(150 events, \d+ bytes stored as \d+, [\d.]+x smaller\)/);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Event"`), 50);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Batch" WHERE status = 'ARCHIVED'`), 15);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "ArchivedBatch" WHERE restored_at IS NULL`), 15);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Insight"`), 20, "insights stay");
      r = cli(dir, env, ["archive"]);
      assert.match(r.out, /^0 batches archived/m, r.out);
      // --sealed-before instead of the age: the five recent ones would move.
      const now = new Date().toISOString();
      r = cli(dir, env, ["archive", "--dry-run", "--sealed-before", now]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^5 batches \(50 events\) sealed before \S+ would move; nothing changed/m, r.out);
      r = cli(dir, env, ["archive", "--sealed-before", new Date(Date.now() + 3600e3).toISOString()]);
      assert.equal(r.code, 2, r.out);
      assert.match(r.out, /--sealed-before must be an RFC 3339 time not in the future/);

      // Restore: every column as it was.
      r = cli(dir, env, ["restore", old[3]]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, new RegExp(`restored ${old[3]} \\(10 events`));
      assert.deepEqual(eventsOf(s.db, old[3]), before);
      assert.equal(statusOf(s.db, old[3]), "ANALYZED");
      r = cli(dir, env, ["restore", old[3]]);
      assert.equal(r.code, 1);
      assert.match(r.out, /is not archived/);

      // A corrupt archive is refused, and nothing changes.
      execSql(s.db, `UPDATE "ArchivedBatch" SET data = ${name === "SQLite" ? "X'28b52ffd0011223344'" : "'\\x28b52ffd0011223344'::bytea"}
                     WHERE batch_id = '${old[4]}'`);
      r = cli(dir, env, ["restore", old[4]]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /archive is corrupt/);
      assert.equal(statusOf(s.db, old[4]), "ARCHIVED");
      assert.equal(eventsOf(s.db, old[4]).length, 0);

      // The all-in-one's archiver, at start, takes the rest once they are old,
      // but not the batch restored a moment ago.
      backdate(s.db, batches.slice(15));
      server = await startServer({ dir, env: { ...env, ADMIN_PASSWORD: "e2e archive admin" } });
      await waitFor(() => /\[Archive\] Archived 5 batches \(50 events/.test(server.log()), 20000,
        "the archiver's pass at start", server.log);
      assert.match(server.log(), /\[Archive\] Events of ANALYZED batches move to the archive 30 days after their seal/);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Batch" WHERE status = 'ARCHIVED'`), 19);
      assert.equal(statusOf(s.db, old[3]), "ANALYZED");
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Event"`), 10);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /^insightd_archive_batches_total 5$/m);

      // The admin API: the batch detail says "archived" and shows its events
      // from the archive; a corrupt one says so; restore needs the CSRF token.
      const login = await fetch(`${server.url}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "admin", password: "e2e archive admin" }),
      });
      assert.equal(login.status, 200);
      const cookie = login.headers.get("set-cookie").split(";")[0];
      const { csrfToken } = await login.json();
      const get = async (path) => {
        const res = await fetch(`${server.url}${path}`, { headers: { cookie } });
        return { status: res.status, body: await res.json() };
      };
      const post = async (path, csrf) => {
        const headers = { cookie };
        if (csrf) headers["x-csrf-token"] = csrf;
        const res = await fetch(`${server.url}${path}`, { method: "POST", headers });
        return { status: res.status, body: await res.json() };
      };
      let d = await get(`/api/admin/batches/${old[0]}`);
      assert.equal(d.status, 200);
      assert.equal(d.body.batch.status, "ARCHIVED");
      assert.equal(d.body.archive.archived, true);
      assert.equal(d.body.archive.eventCount, 10);
      assert.ok(d.body.archive.storedBytes > 0 && d.body.archive.rawBytes > d.body.archive.storedBytes);
      assert.deepEqual(d.body.events.map((e) => e.eventId), ids0);
      d = await get(`/api/admin/batches/${old[4]}`);
      assert.match(d.body.eventsError, /archive is corrupt/);
      assert.deepEqual(d.body.events, []);
      assert.equal((await post(`/api/admin/batches/${old[0]}/restore`)).status, 403, "no CSRF token");
      let restored = await post(`/api/admin/batches/${old[0]}/restore`, csrfToken);
      assert.equal(restored.status, 200, JSON.stringify(restored.body));
      assert.equal(restored.body.restoredEvents, 10);
      d = await get(`/api/admin/batches/${old[0]}`);
      assert.equal(d.body.batch.status, "ANALYZED");
      assert.equal(d.body.archive.archived, false);
      assert.ok(d.body.archive.restoredAt);
      assert.deepEqual(d.body.events.map((e) => e.eventId), ids0);
      restored = await post(`/api/admin/batches/${old[4]}/restore`, csrfToken);
      assert.equal(restored.status, 409);
      assert.equal(restored.body.error.code, "archive_corrupt");

      // ARCHIVE_DELETE_AFTER_DAYS: archived events past that age (from their
      // archiving) are deleted; the batches, insights and records stay.
      execSql(s.db, `UPDATE "ArchivedBatch" SET archived_at = '${OLD}' WHERE batch_id IN ('${old[1]}', '${old[2]}')`);
      r = cli(dir, { ...env, ARCHIVE_DELETE_AFTER_DAYS: "365" }, ["archive"]);
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^2 archived batches lost their events, archived more than 365 days ago/m, r.out);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "ArchivedBatch" WHERE deleted_at IS NOT NULL`), 2);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Batch" WHERE status = 'ARCHIVED'`), 18);
      assert.equal(count(s.db, `SELECT COUNT(*) AS n FROM "Insight"`), 20, "insights stay");
      r = cli(dir, env, ["restore", old[1]]);
      assert.equal(r.code, 1, r.out);
      assert.match(r.out, /its archived events were deleted on/);
      d = await get(`/api/admin/batches/${old[2]}`);
      assert.equal(d.body.batch.status, "ARCHIVED");
      assert.ok(d.body.archive.eventsDeletedAt);
      assert.equal(d.body.archive.eventCount, 10);
      assert.match(d.body.eventsError, /deleted on .* \(ARCHIVE_DELETE_AFTER_DAYS\)/);
      restored = await post(`/api/admin/batches/${old[2]}/restore`, csrfToken);
      assert.equal(restored.status, 409);
      assert.equal(restored.body.error.code, "archive_deleted");
      // Without the setting nothing more is deleted, and start-up says so.
      assert.match(server.log(), /archived events are kept forever/);
    } finally {
      await server.stop();
      s.drop();
      cleanup(dir);
    }
  });
}
