// user:event / user:events over the official socket.io-client against a real
// insightd: WebSocket, long-polling, and polling upgraded to WebSocket. Every
// ack comes after commit and names the batch that holds the event; 100,000
// events arrive exactly once and kill -9 loses no acked event, on SQLite and on
// PostgreSQL; sealed batches hold exactly BATCH_MAX_EVENTS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { io } from "socket.io-client";
import { startServer, sqliteRows, tempDir, cleanup, pgSchema } from "./harness.mjs";

// The load tests run on both databases: SQLite (the default) and PostgreSQL,
// whose writer commits in one round trip once it knows the open batch.
const databases = [
  ["SQLite", (dir) => ({ env: {}, rows: (sql) => sqliteRows(join(dir, "data", "insightd.db"), sql), drop() {} })],
  [
    "PostgreSQL",
    () => {
      const pg = pgSchema();
      return { env: { DATABASE_URL: pg.url }, rows: pg.rows, drop: pg.drop };
    },
  ],
];

function connect(url, options = {}) {
  const socket = io(url, { path: "/api/socket", reconnection: false, ...options });
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

function event(id) {
  return {
    eventId: id,
    eventType: "page_view",
    userId: `user_${id.length % 5}`,
    sessionId: "session_abc",
    timestamp: new Date().toISOString(),
    metadata: { page: "/products" },
  };
}

// Sends `count` events with acks, `window` in flight at once; returns eventId -> ack.
async function sendWithAcks(socket, prefix, count, window) {
  const acks = new Map();
  let next = 0;
  await new Promise((resolve, reject) => {
    let inFlight = 0;
    const pump = () => {
      while (inFlight < window && next < count) {
        const id = `${prefix}-${next++}`;
        inFlight++;
        socket.timeout(30000).emit("user:event", event(id), (err, ack) => {
          if (err) return reject(err);
          acks.set(id, ack);
          inFlight--;
          if (acks.size === count) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  return acks;
}

for (const [name, options] of [
  ["websocket", { transports: ["websocket"] }],
  ["polling", { transports: ["polling"] }],
  ["polling upgraded to websocket", { transports: ["polling", "websocket"] }],
]) {
  test(`user:event over ${name}: ack after commit, event:ack too`, async () => {
    const dir = tempDir();
    const server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "50" } });
    try {
      const socket = await connect(server.url, options);
      const pushed = [];
      socket.on("event:ack", (a) => pushed.push(a));
      const acks = await sendWithAcks(socket, name.replace(/ /g, "_"), 500, 50);
      if (name.includes("upgraded")) assert.equal(socket.io.engine.transport.name, "websocket");
      const db = join(dir, "data", "insightd.db");
      const rows = sqliteRows(db, 'SELECT event_id, batch_id FROM "Event"');
      assert.equal(rows.length, 500);
      for (const row of rows) {
        const ack = acks.get(row.event_id);
        assert.equal(ack.status, "ok");
        assert.equal(ack.eventId, row.event_id);
        assert.equal(ack.batchId, row.batch_id);
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(pushed.length, 500);
      // A duplicate is acked as such and stored once.
      const [dup] = await new Promise((r) => socket.emit("user:event", event(rows[0].event_id), (...a) => r(a)));
      assert.equal(dup.status, "duplicate");
      assert.equal(dup.batchId, rows[0].batch_id);
      // An array, and a bad event inside it.
      const [batch] = await new Promise((r) =>
        socket.emit("user:events", [event("arr-1"), { eventType: "" }, event("arr-2")], (...a) => r(a)),
      );
      assert.deepEqual(batch.map((x) => x.status ?? x.code), ["ok", "invalid_event_type", "ok"]);
      const errors = [];
      socket.on("event:error", (e) => errors.push(e));
      socket.emit("user:event", { eventId: "bad", eventType: "no spaces allowed" });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(errors.at(-1).eventId, "bad");
      assert.equal(errors.at(-1).code, "invalid_event_type");
      assert.equal(sqliteRows(db, 'SELECT COUNT(*) AS n FROM "Event"')[0].n, 502);
      socket.close();
    } finally {
      await server.stop("SIGKILL");
      cleanup(dir);
    }
  });
}

for (const [dbName, open] of databases) {
  test(`100,000 events with acks arrive exactly once, in full batches (${dbName})`, async () => {
    const dir = tempDir();
    const db = open(dir);
    const server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "100", ...db.env } });
    try {
      const sockets = await Promise.all([0, 1, 2, 3].map(() => connect(server.url, { transports: ["websocket"] })));
      const started = Date.now();
      const results = await Promise.all(sockets.map((s, i) => sendWithAcks(s, `bulk${i}`, 25000, 500)));
      const seconds = (Date.now() - started) / 1000;
      console.log(`${dbName}: 100000 events acked in ${seconds.toFixed(2)} s (${Math.round(100000 / seconds)}/s)`);
      const acked = new Map();
      for (const m of results) for (const [id, ack] of m) acked.set(id, ack);
      assert.equal(acked.size, 100000);
      const rows = db.rows('SELECT event_id, batch_id FROM "Event"');
      assert.equal(rows.length, 100000);
      for (const row of rows) assert.equal(acked.get(row.event_id).batchId, row.batch_id);
      const bad = db.rows(`SELECT COUNT(*) AS n FROM "Batch" WHERE (sealed_at IS NOT NULL AND event_count <> 100) OR event_count > 100`);
      assert.equal(bad[0].n, 0);
      const counted = db.rows('SELECT COUNT(*) AS n FROM "Batch" b WHERE event_count <> (SELECT COUNT(*) FROM "Event" e WHERE e.batch_id = b.batch_id)');
      assert.equal(counted[0].n, 0);
      assert.equal(db.rows(`SELECT COUNT(*) AS n FROM "Batch" WHERE sealed_at IS NOT NULL`)[0].n, 1000);
      // One node alone: after its first commits taught it the open batch, every
      // commit on PostgreSQL goes in one round trip (SQLite has the one path).
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const commits = (path) => Number(new RegExp(`^insightd_ingest_commits_total\\{path="${path}"\\} (\\d+)$`, "m").exec(metrics)[1]);
      const [one, two, chunked] = [commits("one_round_trip"), commits("two_round_trips"), commits("chunked")];
      console.log(`${dbName}: commits one_round_trip=${one} two_round_trips=${two} chunked=${chunked}`);
      if (dbName === "PostgreSQL") assert.ok(one >= 0.9 * (one + two + chunked), "most commits in one round trip");
      else assert.equal(one + two, 0);
      for (const s of sockets) s.close();
    } finally {
      await server.stop("SIGKILL");
      db.drop();
      cleanup(dir);
    }
  });
}

// insightd reads plain events (flat metadata, ASCII, no escapes) straight into
// a row and parses the rest into a tree first: the same event sent both ways
// (an ignored extra member sends it the tree's way) is stored and answered alike.
test("plain events and the others are stored and answered alike", async () => {
  const dir = tempDir();
  const server = await startServer({ dir });
  try {
    const socket = await connect(server.url, { transports: ["websocket"] });
    const send = (e) => new Promise((r) => socket.emit("user:event", e, (...a) => r(a[0])));
    const pairs = [
      { eventType: "page_view", userId: "u1", sessionId: "", metadata: { page: "/a", n: -12, ok: true, x: null } },
      { eventType: "click", timestamp: "2026-11-29T04:49:05.000Z", sentAt: new Date(Date.now() + 60000).toISOString() },
      { eventType: "click", userId: null, metadata: null },
      { eventType: "click", timestamp: "2099-01-01T00:00:00Z", metadata: {} },
    ];
    for (const [i, fields] of pairs.entries()) {
      const plain = await send({ eventId: `plain-${i}`, ...fields });
      const tree = await send({ eventId: `tree-${i}`, ...fields, extra: [1] });
      assert.equal(plain.status, "ok", JSON.stringify(plain));
      assert.equal(tree.status, "ok", JSON.stringify(tree));
    }
    const rows = sqliteRows(
      join(dir, "data", "insightd.db"),
      'SELECT event_id, event_type, user_id, session_id, metadata, clock_skew_ms > 0 AS skewed, "timestamp" = received_at AS now FROM "Event" ORDER BY id',
    );
    assert.equal(rows.length, 2 * pairs.length);
    for (let i = 0; i < rows.length; i += 2) {
      const { event_id: a, ...plain } = rows[i];
      const { event_id: b, ...tree } = rows[i + 1];
      assert.deepEqual([a, b], [`plain-${i / 2}`, `tree-${i / 2}`]);
      assert.deepEqual(plain, tree);
    }
    assert.equal(rows[0].metadata, '{"page":"/a","n":-12,"ok":true,"x":null}');
    // Refusals too: the same code and message either way.
    for (const bad of [{ eventType: "no spaces" }, { eventType: "click", userId: 7 }, { eventType: "click", timestamp: "today" }]) {
      const plain = await send({ eventId: "bad", ...bad });
      const tree = await send({ eventId: "bad", ...bad, extra: [1] });
      assert.ok(plain.code, JSON.stringify(plain));
      assert.deepEqual(plain, tree);
    }
    socket.close();
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});

// What one read or one polling POST brings is handed over together: each
// user:event still gets its own answers, refusals stay its own, a user:events
// after them is stored after them, and a POST of thousands is taken whole.
for (const [name, options, count] of [
  ["websocket", { transports: ["websocket"] }, 600],
  ["polling", { transports: ["polling"] }, 2500],
]) {
  test(`events sent at once over ${name} are answered one by one, in order`, async () => {
    const dir = tempDir();
    const server = await startServer({ dir });
    try {
      const socket = await connect(server.url, options);
      const emitted = []; // event:ack and event:error, as they came
      socket.on("event:ack", (a) => emitted.push(a));
      socket.on("event:error", (a) => emitted.push(a));
      const sent = [];
      const answers = [];
      // All emitted in one tick: they leave together and arrive together.
      for (let i = 0; i < count; i++) {
        const id = i === 7 ? "burst-3" : `burst-${i}`; // a repeat of an earlier one
        const e = i === 11 ? { ...event(id), eventType: "no spaces" } : event(id);
        sent.push(id);
        answers.push(new Promise((r) => socket.timeout(30000).emit("user:event", e, (err, ack) => r(err ?? ack))));
      }
      const batch = new Promise((r) =>
        socket.timeout(30000).emit("user:events", [event("after-1"), event("after-2")], (err, acks) => r(err ?? acks)),
      );
      const acks = await Promise.all(answers);
      for (const [i, ack] of acks.entries()) {
        assert.equal(ack.eventId, sent[i], `answer ${i} names its own event`);
        const want = i === 11 ? undefined : i === 7 ? "duplicate" : "ok";
        assert.equal(ack.status, want, `${i}: ${JSON.stringify(ack)}`);
        if (i === 11) assert.equal(ack.code, "invalid_event_type");
      }
      assert.deepEqual((await batch).map((a) => a.status), ["ok", "ok"]);
      // The emitted answers too, one per event, in the order sent.
      assert.deepEqual(
        emitted.map((a) => `${a.eventId}:${a.status ?? a.code}`),
        [...sent.map((id, i) => `${id}:${i === 11 ? "invalid_event_type" : i === 7 ? "duplicate" : "ok"}`),
          "after-1:ok", "after-2:ok"],
      );
      const rows = sqliteRows(join(dir, "data", "insightd.db"), 'SELECT event_id FROM "Event" ORDER BY id');
      const stored = sent.filter((id, i) => i !== 7 && i !== 11);
      assert.deepEqual(rows.map((r) => r.event_id), [...stored, "after-1", "after-2"]);
      socket.close();
    } finally {
      await server.stop("SIGKILL");
      cleanup(dir);
    }
  });
}

test("with write keys, a client needs auth {writeKey}", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env: { INGEST_KEYS: "k-0123456789abcdef" } });
  try {
    await assert.rejects(connect(server.url, { transports: ["websocket"] }), /write key/);
    const socket = await connect(server.url, { transports: ["websocket"], auth: { writeKey: "k-0123456789abcdef" } });
    const [ack] = await new Promise((r) => socket.emit("user:event", event("keyed"), (...a) => r(a)));
    assert.equal(ack.status, "ok");
    socket.close();
  } finally {
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});

for (const [dbName, open] of databases) {
  test(`kill -9 while Socket.IO clients send at full speed: every acked event survives (${dbName})`, async () => {
    const dir = tempDir();
    const db = open(dir);
    let server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "100", ...db.env } });
    const acked = new Set();
    const sockets = await Promise.all([0, 1, 2, 3].map(() => connect(server.url, { transports: ["websocket"] })));
    let n = 0;
    for (const [i, s] of sockets.entries()) {
      // Keep 200 events in flight per socket until the server dies.
      const fire = () => {
        const id = `kill${i}-${n++}`;
        s.emit("user:event", event(id), (ack) => {
          if (ack && ack.status === "ok") acked.add(id);
          if (s.connected) fire();
        });
      };
      for (let k = 0; k < 200; k++) fire();
    }
    await new Promise((r) => setTimeout(r, 1500));
    await server.stop("SIGKILL");
    for (const s of sockets) s.close();
    assert.ok(acked.size > 100, `only ${acked.size} acks before the kill`);
    server = await startServer({ dir, env: db.env });
    try {
      const rows = db.rows('SELECT event_id FROM "Event"');
      const stored = new Set(rows.map((r) => r.event_id));
      assert.equal(stored.size, rows.length);
      const missing = [...acked].filter((id) => !stored.has(id));
      assert.deepEqual(missing, []);
      const counted = db.rows('SELECT COUNT(*) AS n FROM "Batch" b WHERE event_count <> (SELECT COUNT(*) FROM "Event" e WHERE e.batch_id = b.batch_id)');
      assert.equal(counted[0].n, 0);
      console.log(`kill -9 (Socket.IO, ${dbName}): ${acked.size} acked, ${rows.length} stored, 0 lost`);
    } finally {
      await server.stop("SIGKILL");
      db.drop();
      cleanup(dir);
    }
  });
}
