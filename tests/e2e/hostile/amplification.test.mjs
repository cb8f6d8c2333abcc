// Amplification: a small request must not buy a huge answer or a huge amount of
// work. A 512 KB body of `[0,0,0,…]` gets one small error for the whole
// request; more than 1,000 events in one request are refused as a whole
// (413 too_many_events, nothing stored), exactly 1,000 are fine; pipelining a
// few such bodies on one connection keeps RSS bounded.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  withServer, postEvents, RawConnection, honestHttpLoad, assertHonest, assertAlive, RssMonitor,
  assertRssGrowth, mb, validEvent, sqliteOnly, KiB, MiB, unique, poll,
} from "./hostile_harness.mjs";

// "[0,0,…,0]" padded with a space to exactly `bytes` (512 KiB): 262,143 zeros.
function zeros(bytes = 512 * KiB) {
  const k = Math.floor((bytes - 1) / 2);
  const text = `[${"0,".repeat(k - 1)}0]`;
  return Buffer.from(text + " ".repeat(bytes - text.length));
}

function checkOneSmallError(res, what) {
  const text = res.text ?? res.body?.toString("utf8") ?? "";
  assert.ok([400, 413].includes(res.status), `${what}: expected one error for the whole request (400), got ${res.status} ${text.slice(0, 200)}`);
  assert.ok(text.length < 4 * KiB, `${what}: the answer is ${text.length} bytes (${mb(text.length)}); one error for the whole request must be < 4 KB`);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    assert.fail(`${what}: the answer is not one JSON object: ${text.slice(0, 200)}`);
  }
  assert.ok(json && typeof json === "object" && !Array.isArray(json), `${what}: the answer must be a single JSON error object`);
  assert.ok(!(Array.isArray(json.results) && json.results.length > 1), `${what}: one error per element (${json.results?.length}) instead of one for the request`);
}

test("a 512 KB array of zeros gets one small error; 1,001 events are refused whole, 1,000 are stored", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server, db }) => {
    const honest = honestHttpLoad(server.url, { clients: 4 });
    const rss = new RssMonitor(server.child.pid);
    const body = zeros();
    assert.equal(body.length, 512 * KiB);
    const res = await postEvents(server.url, body, { timeoutMs: 10000 });
    console.log(`[0,0,…] (${body.length} bytes): HTTP ${res.status}, answer ${res.text.length} bytes in ${res.ms} ms`);
    checkOneSmallError(res, `a ${body.length}-byte array of zeros`);

    // Within the event cap, an array of non-events is still one error: 400.
    const small = await postEvents(server.url, `[${Array(1000).fill("0").join(",")}]`, { timeoutMs: 5000 });
    console.log(`[0,0,…] (1,000 zeros): HTTP ${small.status}, answer ${small.text.length} bytes`);
    checkOneSmallError(small, "an array of 1,000 zeros");
    assert.equal(small.status, 400, `an array of 1,000 zeros: expected 400, got ${small.status} ${small.text.slice(0, 200)}`);

    const tag = unique();
    const over = Array.from({ length: 1001 }, (_, i) => validEvent(`over_${tag}_${i}`, { metadata: { i } }));
    const tooMany = await postEvents(server.url, over, { timeoutMs: 10000 });
    assert.equal(tooMany.status, 413, `1,001 events in one request: expected 413, got ${tooMany.status} ${tooMany.text.slice(0, 200)}`);
    assert.equal(tooMany.json?.error?.code, "too_many_events", `1,001 events: expected error.code "too_many_events": ${tooMany.text.slice(0, 300)}`);
    assert.ok(tooMany.text.length < 4 * KiB, `1,001 events: the refusal is ${tooMany.text.length} bytes; it must be one small error`);
    // The same as {"events": [...]}.
    const tooManyWrapped = await postEvents(server.url, { events: over }, { timeoutMs: 10000 });
    assert.equal(tooManyWrapped.status, 413, `{"events": [1,001 events]}: expected 413, got ${tooManyWrapped.status}`);
    assert.equal(tooManyWrapped.json?.error?.code, "too_many_events");
    assert.deepEqual(db.rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_id LIKE 'over_${tag}_%'`), [{ n: 0 }], "events of a refused 1,001-event request were stored");

    const exact = Array.from({ length: 1000 }, (_, i) => validEvent(`exact_${tag}_${i}`, { metadata: { i } }));
    const ok = await postEvents(server.url, exact, { timeoutMs: 15000 });
    assert.equal(ok.status, 200, `exactly 1,000 events: expected 200, got ${ok.status} ${ok.text.slice(0, 200)}`);
    assert.equal(ok.json.results.length, 1000);
    assert.ok(ok.json.results.every((r) => r.status === "ok"), "exactly 1,000 events: every result must be ok");
    assert.deepEqual(db.rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_id LIKE 'exact_${tag}_%'`), [{ n: 1000 }]);

    assertAlive(server, "amplification requests");
    assertRssGrowth(rss, 128, "one 512 KB array of zeros and the 1,000/1,001-event requests");
    assertHonest(await honest.stop(), "amplification requests");
  });
});

test("512 KB arrays of zeros pipelined on one keep-alive connection keep RSS bounded", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server }) => {
    const honest = honestHttpLoad(server.url, { clients: 4 });
    const rss = new RssMonitor(server.child.pid, 25);
    const body = zeros();
    const one = Buffer.concat([
      Buffer.from(`POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`),
      body,
    ]);
    const count = 8;
    // Keep at most 64 MiB of answers; the rest is only counted.
    const conn = await RawConnection.open(server.port, { keepBytes: 64 * 1024 * 1024 });
    const started = Date.now();
    for (let i = 0; i < count; i++) await conn.write(one);
    // Until every answer is in, the connection ends, or 64 MiB of answers show the amplification.
    await poll(() => conn.gone || conn.received >= 64 * MiB || conn.responses().filter((r) => r.complete).length >= count, 30000);
    const responses = conn.responses();
    console.log(
      `${count} pipelined 512 KB arrays of zeros: ${responses.filter((r) => r.complete).length} answers, ${mb(conn.received)} received in ${Date.now() - started} ms` +
        `; statuses ${[...new Set(responses.map((r) => r.status))].join(",")}; connection ${conn.gone ? "closed" : "open"}`,
    );
    conn.destroy();
    assertAlive(server, "pipelined arrays of zeros");
    assertRssGrowth(rss, 128, `${count} pipelined 512 KB arrays of zeros`);
    assert.ok(responses.length >= 1 && responses[0].complete, "no answer to the first pipelined array of zeros within 30 s");
    for (const [i, r] of responses.entries()) {
      if (!r.complete) continue;
      checkOneSmallError({ status: r.status, body: r.body }, `pipelined array #${i + 1}`);
    }
    assert.ok(conn.received < count * 4 * KiB, `the answers to ${count} pipelined arrays took ${mb(conn.received)}; each must be one small error`);
    assertHonest(await honest.stop(), "pipelined arrays of zeros");
  });
});
