// @insightd/client against a fake socket and fake clock: ids and sessions, the
// queue's bounds and persistence, acknowledgements, retries with backoff,
// refused events, the HTTP fallback, flush().
import { test, mock } from "node:test";
import assert from "node:assert/strict";
import { createAnalytics, backoff, eventId } from "../../packages/client/dist/index.js";
import { FakeSocket, memoryKv, memoryQueueStore, tick } from "./fakes.mjs";

function setup(options = {}) {
  const socket = new FakeSocket();
  const events = [];
  let now = options.start ?? Date.parse("2026-12-07T10:00:00Z");
  const kv = options.kv ?? memoryKv();
  const store = options.store ?? memoryQueueStore();
  const a = createAnalytics({
    url: "http://insightd.test",
    connect: () => socket,
    now: () => now,
    random: () => 0.5,
    kv,
    store,
    onEvent: (e) => events.push(e),
    ...options.client,
  });
  return { a, socket, events, kv, store, advance: (ms) => (now += ms), time: () => now };
}

test("event ids are 26 Crockford base32 characters, unique, and sort by time", () => {
  const ids = [];
  for (let t = 1_700_000_000_000; t < 1_700_000_000_000 + 50; t++) ids.push(eventId(t));
  for (const id of ids) assert.match(id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test("fills ids, user, session and times; a new session after 30 minutes idle", async () => {
  const { a, socket, kv, advance } = setup();
  socket.fire("connect");
  a.track("page_view", { path: "/a" });
  advance(29 * 60_000);
  a.track("click");
  advance(31 * 60_000);
  a.track("click");
  await tick();
  const sent = socket.sent.flatMap((s) => s.data);
  assert.equal(sent.length, 3);
  const anon = kv.get("insightd:anonymousId");
  assert.match(anon, /^anon_[0-9a-f]{24}$/);
  for (const e of sent) {
    assert.equal(e.userId, anon);
    assert.match(e.eventId, /^[0-9A-Z]{26}$/);
    assert.equal(e.sentAt, e.timestamp, "sent at once");
  }
  assert.deepEqual(sent[0].metadata, { path: "/a" });
  assert.equal(sent[0].sessionId, sent[1].sessionId, "29 minutes apart: one session");
  assert.notEqual(sent[1].sessionId, sent[2].sessionId, "31 minutes idle: a new session");
  a.identify("user-42", { plan: "pro" });
  await tick();
  const identify = socket.sent.at(-1).data[0];
  assert.equal(identify.eventType, "identify");
  assert.equal(identify.userId, "user-42");
  assert.deepEqual(identify.metadata, { plan: "pro" });
  assert.equal(kv.get("insightd:userId"), "user-42", "kept for the next page");
  a.stop();
});

test("an event leaves the queue only on its acknowledgement, ok or duplicate", async () => {
  const { a, socket, events } = setup();
  a.track("one");
  a.track("two");
  await tick();
  assert.equal(socket.sent.length, 0, "nothing sent before the connection");
  assert.equal(a.stats().queued, 2);
  socket.fire("connect");
  assert.equal(socket.sent.length, 1);
  assert.equal(socket.sent[0].event, "user:events");
  assert.equal(a.stats().inFlight, 1);
  socket.answer((e, i) => ({ eventId: e.eventId, status: i === 0 ? "ok" : "duplicate" }));
  assert.deepEqual(a.stats(), { queued: 0, inFlight: 0, delivered: 2, dropped: 0, rejected: 0, transport: "websocket" });
  assert.deepEqual(events.filter((e) => e.type === "delivered").map((e) => e.status), ["ok", "duplicate"]);
  assert.equal(await a.flush(10), true);
  a.stop();
});

test("retryable errors and unanswered sends go again after a backoff; refused events are dropped and reported", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const { a, socket, events } = setup();
    const ids = [a.track("a"), a.track("b"), a.track("c")];
    await tick();
    socket.fire("connect");  // the three in one message
    socket.answer((e) =>
      e.eventId === ids[0]
        ? { eventId: e.eventId, status: "ok" }
        : e.eventId === ids[1]
          ? { eventId: e.eventId, code: "overloaded", message: "busy", retryable: true }
          : { eventId: e.eventId, code: "invalid_event_type", message: "bad" },
    );
    assert.deepEqual(events.filter((e) => e.type === "rejected").map((e) => [e.eventId, e.code]), [[ids[2], "invalid_event_type"]]);
    assert.equal(a.stats().queued, 1);
    const retry = events.find((e) => e.type === "retry");
    assert.equal(retry.code, "overloaded");
    assert.equal(retry.inMs, backoff(1, 0.5));
    mock.timers.tick(retry.inMs - 1);
    assert.equal(socket.sent.length, 0, "not before the backoff");
    mock.timers.tick(1);
    assert.equal(socket.sent.length, 1);
    assert.deepEqual(socket.sent[0].data.map((e) => e.eventId), [ids[1]]);
    // No answer at all (the ack timed out): again, after a longer pause.
    socket.sent.shift().ack(new Error("timeout"));
    const second = events.filter((e) => e.type === "retry").at(-1);
    assert.equal(second.code, "ack_timeout");
    assert.equal(second.inMs, backoff(2, 0.5));
    // insightd's own wait (rate_limited) wins when longer.
    mock.timers.tick(second.inMs);
    socket.answer((e) => ({ eventId: e.eventId, code: "rate_limited", retryable: true, retryAfterMs: 7000 }));
    assert.equal(events.filter((e) => e.type === "retry").at(-1).inMs, 7000);
    mock.timers.tick(7000);
    socket.answer();
    assert.deepEqual(a.stats(), { queued: 0, inFlight: 0, delivered: 2, dropped: 0, rejected: 1, transport: "websocket" });
    a.stop();
  } finally {
    mock.timers.reset();
  }
});

test("backoff doubles from 500 ms to 30 s with equal jitter", () => {
  assert.equal(backoff(1, 0), 250);
  assert.equal(backoff(1, 1), 500);
  assert.equal(backoff(3, 0), 1000);
  assert.equal(backoff(3, 1), 2000);
  assert.equal(backoff(50, 1), 30_000);
  assert.equal(backoff(50, 0), 15_000);
});

test("a lost connection sends what awaited its answer again; a late answer is harmless", async () => {
  const { a, socket } = setup();
  socket.fire("connect");
  const id = a.track("x");
  await tick();
  const first = socket.sent.shift();
  socket.fire("disconnect", "transport close");
  assert.equal(a.stats().inFlight, 0);
  socket.fire("connect");
  assert.equal(socket.sent.length, 1);
  assert.equal(socket.sent[0].data[0].eventId, id);
  first.ack(null, [{ eventId: id, status: "ok" }]);  // the first answer arrives after all
  socket.answer((e) => ({ eventId: e.eventId, status: "duplicate" }));
  assert.equal(a.stats().delivered, 1, "counted once");
  assert.equal(a.stats().queued, 0);
  a.stop();
});

test("the queue is bounded by count and bytes, the oldest dropped first and counted", async () => {
  const { a, events } = setup({ client: { maxEvents: 3, maxBytes: 100_000 } });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(a.track("e", { i }));
  assert.deepEqual(events.filter((e) => e.type === "dropped").map((e) => e.eventId), ids.slice(0, 2));
  assert.equal(a.stats().queued, 3);
  assert.equal(a.stats().dropped, 2);
  a.stop();
  const small = setup({ client: { maxEvents: 1000, maxBytes: 1000 } });
  for (let i = 0; i < 20; i++) small.a.track("e", { pad: "x".repeat(100) });
  assert.ok(small.a.stats().queued <= 4, `${small.a.stats().queued} queued in 1,000 bytes`);
  assert.equal(small.a.stats().queued + small.a.stats().dropped, 20);
  small.a.stop();
});

test("the queue persists: a later page sends what an earlier one could not", async () => {
  const store = memoryQueueStore();
  const kv = memoryKv();
  const first = setup({ store, kv });
  const ids = [first.a.track("offline-1"), first.a.track("offline-2")];
  first.a.stop();
  assert.equal(store.all.size, 2);
  const second = setup({ store, kv });
  await tick();
  second.socket.fire("connect");
  assert.deepEqual(second.socket.sent[0].data.map((e) => e.eventId), ids);
  second.socket.answer();
  assert.equal(store.all.size, 0, "delivered events leave the store");
  second.a.stop();
});

test("falls back to POST /api/events as text/plain when the socket cannot connect", async () => {
  const posts = [];
  const fetch = async (url, init) => {
    posts.push({ url, init });
    const body = JSON.parse(init.body);
    return { status: 200, json: async () => ({ results: body.events.map((e) => ({ eventId: e.eventId, status: "ok" })) }) };
  };
  const { a, socket } = setup({ client: { fetch, writeKey: "wk-0123456789abcdef" } });
  a.track("via-http");
  socket.fire("connect_error", new Error("blocked"));
  assert.equal(posts.length, 0, "one failure is not enough");
  socket.fire("connect_error", new Error("blocked"));
  await tick();
  assert.equal(posts.length, 1);
  assert.equal(posts[0].url, "http://insightd.test/api/events");
  assert.equal(posts[0].init.headers["content-type"], "text/plain");
  const body = JSON.parse(posts[0].init.body);
  assert.equal(body.writeKey, "wk-0123456789abcdef");
  assert.equal(body.events[0].eventType, "via-http");
  await tick();
  assert.equal(a.stats().delivered, 1);
  assert.equal(a.stats().transport, "http");
  a.stop();
});

test("flush() waits for the queue to empty, or gives up", async () => {
  const { a, socket } = setup();
  a.track("x");
  assert.equal(await a.flush(20), false, "not connected: nothing can leave");
  socket.fire("connect");
  const done = a.flush(1000);
  socket.answer();
  assert.equal(await done, true);
  a.stop();
  assert.equal(socket.closed, true);
});

test("a socket that neither connects nor fails (a blocked WebSocket) gives way to HTTP after httpAfterMs", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const posts = [];
    const fetch = async (url, init) => {
      posts.push(JSON.parse(init.body));
      return { status: 200, json: async () => ({ results: JSON.parse(init.body).events.map((e) => ({ eventId: e.eventId, status: "ok" })) }) };
    };
    const { a } = setup({ client: { fetch, httpAfterMs: 3000 } });
    a.track("hung");
    mock.timers.tick(2999);
    assert.equal(posts.length, 0);
    mock.timers.tick(1);
    assert.equal(posts.length, 1);
    a.stop();
    const off = setup({ client: { fetch, httpFallback: false } });
    off.a.track("no-http");
    mock.timers.tick(60_000);
    assert.equal(posts.length, 1, "httpFallback: false never posts");
    off.a.stop();
  } finally {
    mock.timers.reset();
  }
});

test("HTTP: a 413 sends in smaller requests down to the one too large; 401 is final; a proxy's 502 is retried", async () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  try {
    const seen = [];
    let mode = "413";
    const fetch = async (url, init) => {
      const events = JSON.parse(init.body).events;
      seen.push(events.length);
      if (mode === "502") return { status: 502, json: async () => { throw new Error("html"); } };
      if (mode === "401") return { status: 401, json: async () => ({ error: { code: "unauthorized", message: "key" } }) };
      if (events.length > 1 || events[0].metadata?.big) {
        return { status: 413, json: async () => ({ error: { code: "payload_too_large", message: "big" } }) };
      }
      return { status: 200, json: async () => ({ results: events.map((e) => ({ eventId: e.eventId, status: "ok" })) }) };
    };
    const { a, socket, events } = setup({ client: { fetch } });
    a.track("small", { i: 1 });
    a.track("big", { big: true });
    a.track("small", { i: 2 });
    a.track("small", { i: 3 });
    socket.fire("connect_error", new Error("x"));
    socket.fire("connect_error", new Error("x"));
    for (let k = 0; k < 20; k++) await tick();
    assert.equal(a.stats().delivered, 3);
    assert.equal(a.stats().rejected, 1);
    assert.equal(events.find((e) => e.type === "rejected").code, "payload_too_large");
    assert.equal(seen[0], 4, "first all four together");
    mode = "502";
    a.track("later");
    for (let k = 0; k < 5; k++) await tick();
    assert.equal(a.stats().queued, 1, "a 502 keeps the event");
    assert.equal(events.at(-1).type, "retry");
    mode = "401";
    mock.timers.tick(60_000);
    for (let k = 0; k < 5; k++) await tick();
    assert.equal(a.stats().queued, 0);
    assert.equal(events.filter((e) => e.type === "rejected").at(-1).code, "unauthorized");
    a.stop();
  } finally {
    mock.timers.reset();
  }
});

test("Socket.IO: one error for a whole message splits it instead of blaming one event", async () => {
  const { a, socket } = setup();
  const ids = [a.track("a"), a.track("b")];
  await tick();
  socket.fire("connect");
  const first = socket.sent.shift();
  first.ack(null, { eventId: "", code: "too_many_events", message: "too many" });
  assert.equal(a.stats().rejected, 0, "nobody blamed");
  assert.deepEqual(socket.sent.map((s) => s.data.length), [1, 1], "again one by one");
  socket.answer();
  socket.answer();
  assert.equal(a.stats().delivered, 2);
  assert.deepEqual(ids.length, 2);
  a.stop();
});

test("events a previous page left are older than this page's: a full queue drops them first", async () => {
  const store = memoryQueueStore();
  const kv = memoryKv();
  const first = setup({ store, kv });
  const old = first.a.track("old");
  first.a.stop();
  const second = setup({ store, kv, client: { maxEvents: 2 } });
  const n1 = second.a.track("new-1");
  const n2 = second.a.track("new-2");
  await tick();
  second.socket.fire("connect");
  assert.deepEqual(second.socket.sent.flatMap((s) => s.data.map((e) => e.eventId)), [n1, n2]);
  assert.equal(second.a.stats().dropped, 1);
  assert.ok(!store.all.has(old));
  second.a.stop();
});
