// user:events over the official Socket.IO client: more than 1,000 events in one
// message get one error for the whole message (too_many_events) and nothing is
// stored; exactly 1,000 are all acked ok. Honest clients keep their acks.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  withServer, connectSocketIo, honestSocketIoLoad, assertHonest, assertAlive, RssMonitor,
  assertRssGrowth, validEvent, sqliteOnly, sleep, unique,
} from "./hostile_harness.mjs";

test("user:events with 1,001 events gets one too_many_events error and stores nothing; 1,000 are acked", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server, db }) => {
    const honest = await honestSocketIoLoad(server.url, { clients: 2, window: 5 });
    const rss = new RssMonitor(server.child.pid);
    const tag = unique();
    const socket = await connectSocketIo(server.url);
    const errors = [];
    socket.on("event:error", (e) => errors.push(e));
    const acks = [];
    socket.on("event:ack", (a) => acks.push(a));

    const over = Array.from({ length: 1001 }, (_, i) => validEvent(`sio_over_${tag}_${i}`, { metadata: { i } }));
    let ack;
    try {
      ack = await socket.timeout(10000).emitWithAck("user:events", over);
    } catch (err) {
      assert.fail(`user:events with 1,001 events: no ack within 10 s (${err.message})`);
    }
    await sleep(300); // let any event:error pushed after the ack arrive
    const summary = JSON.stringify(ack).slice(0, 300);
    // One error for the whole message: an error object (or a one-element array of it).
    const error = Array.isArray(ack) ? (ack.length === 1 ? ack[0] : null) : ack;
    assert.ok(error && !Array.isArray(error), `user:events with 1,001 events: expected one error for the message, got an ack of ${Array.isArray(ack) ? ack.length : typeof ack} elements: ${summary}`);
    assert.equal(error.code, "too_many_events", `user:events with 1,001 events: expected code "too_many_events": ${summary}`);
    assert.ok(errors.length <= 1, `user:events with 1,001 events: ${errors.length} event:error messages, expected at most one for the whole message`);
    if (errors.length === 1) {
      const e = Array.isArray(errors[0]) ? errors[0][0] : errors[0];
      assert.equal(e?.code, "too_many_events", `the event:error for 1,001 events: ${JSON.stringify(errors[0]).slice(0, 300)}`);
    }
    assert.equal(acks.length, 0, "no event:ack may come for a refused message");
    assert.equal(socket.connected, true, "the client should stay connected after a refused message");
    assert.deepEqual(db.rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_id LIKE 'sio_over_${tag}_%'`), [{ n: 0 }], "events of a refused 1,001-event message were stored");

    const exact = Array.from({ length: 1000 }, (_, i) => validEvent(`sio_exact_${tag}_${i}`, { metadata: { i } }));
    const all = await socket.timeout(15000).emitWithAck("user:events", exact);
    assert.ok(Array.isArray(all) && all.length === 1000, `user:events with exactly 1,000 events: expected 1,000 acks, got ${JSON.stringify(all).slice(0, 200)}`);
    assert.ok(all.every((a, i) => a.status === "ok" && a.eventId === exact[i].eventId), "user:events with exactly 1,000 events: every ack must be ok");
    assert.deepEqual(db.rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_id LIKE 'sio_exact_${tag}_%'`), [{ n: 1000 }]);
    socket.close();

    assertAlive(server, "user:events with 1,001 events");
    assertRssGrowth(rss, 128, "user:events with 1,001 and 1,000 events");
    assertHonest(await honest.stop(), "user:events with 1,001 events (Socket.IO)");
  });
});
