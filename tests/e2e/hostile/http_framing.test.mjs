// Hostile HTTP framing over raw TCP: a chunk-size line, a chunk extension or a
// trailer that never ends must be cut off with 400 (or 431) and a closed
// connection after at most 1 MiB, with RSS growth under 32 MB; a
// Transfer-Encoding whose last coding is not chunked is a 400 and the
// connection closes without reading further requests. Honest clients keep
// getting their events stored meanwhile.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  withServer, RawConnection, flood, honestHttpLoad, assertHonest, assertAlive, RssMonitor, assertRssGrowth, mb,
  validEvent, sqliteOnly, MiB, KiB, sleep, unique, sanitized,
} from "./hostile_harness.mjs";

const head = "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
const validChunked = (body) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n`;

const filler = (text) => {
  const b = Buffer.alloc(64 * KiB);
  b.fill(text);
  return b;
};

const attacks = [
  ["a chunk-size line that never ends (\"111…\")", head, filler("1")],
  ["a chunk extension that never ends (\"1;aaa…\")", `${head}1;`, filler("a")],
  ["a chunk extension with a value that never ends (\"1;x=\\\"aaa…\")", `${head}1;x="`, filler("a")],
  ["a trailer line that never ends", `${head}${validChunked(JSON.stringify(validEvent("trailer_line")))}X-Trailer: `, filler("a")],
  ["a trailer of endless fields", `${head}${validChunked(JSON.stringify(validEvent("trailer_fields")))}`, filler("X-T: y\r\n")],
];

const LIMIT = MiB; // the server must have answered by then
const SLACK = 64 * KiB;

test("unbounded chunk headers and trailers are cut off after at most 1 MiB", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server, db }) => {
    const honest = honestHttpLoad(server.url, { clients: 4 });
    const problems = [];
    for (const [what, prefix, chunk] of attacks) {
      const rss = new RssMonitor(server.child.pid, 25);
      const conn = await RawConnection.open(server.port);
      await conn.write(prefix);
      // Phase 1: 1 MiB and a little more; the server must answer and close.
      const first = await flood(conn, () => chunk, { maxBytes: LIMIT + SLACK, maxMs: 10000, stopWhen: () => conn.received > 0 });
      await conn.waitFor(() => conn.gone, 3000);
      const answered = conn.responses()[0];
      let line = `${what}: sent ${mb(first.bytes)} (${first.reason}); answer ${answered?.status ?? "none"}; connection ${conn.gone ? "closed" : "still open"}`;
      if (!conn.gone || !answered) {
        // Phase 2, to show what a regression costs: keep sending, within bounds
        // (256 MiB, 20 s, or until RSS grows by 256 MiB).
        const more = await flood(conn, () => chunk, {
          maxBytes: 256 * MiB,
          maxMs: 20000,
          stopWhen: () => conn.received > 0 || rss.sample() - rss.before > 256 * MiB,
        });
        line += `; then it accepted ${mb(more.bytes)} more in ${more.ms} ms (${more.reason})`;
      }
      const r = rss.stop();
      line += `; RSS growth ${mb(r.growth)}`;
      console.log(line);
      conn.destroy();
      assertAlive(server, what);
      if (!answered || ![400, 431].includes(answered.status)) problems.push(`${line}: expected 400 or 431 within the first ${mb(LIMIT)}`);
      else if (!conn.gone) problems.push(`${line}: the connection was not closed after the answer`);
      const bound = (sanitized() ? 64 : 32) * MiB;
      if (r.growth >= bound) problems.push(`${line}: RSS grew ${mb(r.growth)} (bound ${mb(bound)})`);
      await sleep(200);
    }
    const stats = await honest.stop();
    assert.deepEqual(problems, [], `the server let unbounded framing through:\n  ${problems.join("\n  ")}`);
    assertHonest(stats, "unbounded chunk headers and trailers");
    const stored = db.rows(`SELECT event_id FROM "Event" WHERE event_id LIKE 'trailer_%'`);
    assert.deepEqual(stored, [], "a request whose trailer never ended was stored");
  });
});

test("Transfer-Encoding whose last coding is not chunked: 400, then the connection closes", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server, db }) => {
    const honest = honestHttpLoad(server.url, { clients: 2 });
    const rss = new RssMonitor(server.child.pid);
    const tag = unique();
    for (const coding of ["chunked, gzip", "gzip"]) {
      const id = `te_${tag}_${coding.replace(/\W+/g, "_")}`;
      const body = JSON.stringify(validEvent(id));
      const conn = await RawConnection.open(server.port);
      // The request, its chunked body, then a second request on the same connection.
      await conn.write(
        `POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: ${coding}\r\n\r\n` +
          `${validChunked(body)}\r\n` +
          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
      );
      const started = Date.now();
      const closed = await conn.waitFor(() => conn.gone, 3000);
      await sleep(100);
      const responses = conn.responses();
      const summary = responses.map((r) => `${r.status} ${r.body?.toString("utf8").slice(0, 120)}`).join(" | ");
      console.log(`Transfer-Encoding: ${coding}: ${responses.length} response(s) [${summary}], closed ${closed ? `after ${conn.closedAt - started} ms` : "no"}`);
      conn.destroy();
      assert.equal(responses[0]?.status, 400, `Transfer-Encoding: ${coding}: the first answer should be 400, got [${summary}]`);
      assert.equal(responses.length, 1, `Transfer-Encoding: ${coding}: the connection must close after the 400 without answering the pipelined request, got [${summary}]`);
      assert.ok(closed, `Transfer-Encoding: ${coding}: the connection was still open 3 s after the 400`);
      assert.deepEqual(db.rows(`SELECT event_id FROM "Event" WHERE event_id = '${id}'`), [], `Transfer-Encoding: ${coding}: the body was stored`);
    }
    assertAlive(server, "Transfer-Encoding: chunked, gzip");
    assertRssGrowth(rss, 128, "Transfer-Encoding: chunked, gzip");
    assertHonest(await honest.stop(), "Transfer-Encoding: chunked, gzip");
  });
});
