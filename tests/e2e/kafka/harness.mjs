// What the Kafka end-to-end tests share: a steerable mock cluster in a process
// of its own, a consumer reading the relay's topics back, and the check that
// what arrived is exactly the outbox, in order per key.
import { spawn, execFile } from "node:child_process";
import { createInterface } from "node:readline";
import assert from "node:assert/strict";
import { waitFor } from "../pipeline/harness.mjs";

export { STORES, store } from "../pipeline/harness.mjs";

const MOCK_BIN = process.env.KAFKA_MOCK_BIN;
const TAIL_BIN = process.env.KAFKA_TAIL_BIN;
if (!MOCK_BIN || !TAIL_BIN) throw new Error("KAFKA_MOCK_BIN and KAFKA_TAIL_BIN must name the tools");

export const PREFIX = "e2e.";

// build/kafka-mock --steer: {bootstraps, down(), up(), rtt(ms), stop()}.
export async function startMock() {
  const child = spawn(MOCK_BIN, ["--steer", "3"], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = [];
  createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
  const bootstraps = await waitFor(() => lines[0], 10000, "the mock cluster");
  const command = async (c) => {
    const before = lines.filter((l) => l === `${c.split(" ")[0]} ok`).length;
    child.stdin.write(`${c}\n`);
    await waitFor(() => lines.filter((l) => l === `${c.split(" ")[0]} ok`).length > before, 5000, `kafka-mock ${c}`);
  };
  return {
    bootstraps,
    down: () => command("down"),
    up: () => command("up"),
    rtt: (ms) => command(`rtt ${ms}`),
    stop: () => {
      child.stdin.end();
      child.kill("SIGTERM");
    },
  };
}

// Every message on the relay's topics, from the first offset, until `count`
// arrived (or `ms` passed): [{topic, partition, offset, key, headers, payload}].
// `count` "end": everything the topics held when the read began.
export function consumeAll(bootstraps, count, ms = 30000) {
  return new Promise((resolve, reject) => {
    execFile(TAIL_BIN, [bootstraps, PREFIX, String(Math.ceil(ms / 1000)), String(count)],
      { maxBuffer: 1 << 28 }, (err, stdout) => {
        if (err) return reject(err);
        resolve(stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)));
      });
  });
}

const topicOf = (kind) => (kind === "circuit.state_changed" ? `${PREFIX}breaker` : `${PREFIX}batches`);

// `expected`: the outbox rows [{id, kind, key}]. Every one arrived on its
// topic with its key and kind; per key, once duplicates are dropped by
// outbox id, in id order. Returns the number of duplicates.
export function checkDelivered(expected, got) {
  const byId = new Map(expected.map((r) => [Number(r.id), r]));
  const seen = new Set();
  const lastPerKey = new Map();
  let duplicates = 0;
  for (const m of got) {
    const id = Number(m.headers["outbox-id"]);
    const row = byId.get(id);
    assert.ok(row, `a message with unknown outbox id ${id}`);
    assert.equal(m.headers.kind, row.kind);
    assert.equal(m.key, row.key);
    assert.equal(m.topic, topicOf(row.kind));
    if (seen.has(id)) {
      duplicates++;
      continue;
    }
    seen.add(id);
    const k = `${m.topic}/${m.key}`;
    if (lastPerKey.has(k)) assert.ok(lastPerKey.get(k) < id, `key ${m.key}: ${id} after ${lastPerKey.get(k)}`);
    lastPerKey.set(k, id);
  }
  const missing = expected.filter((r) => !seen.has(Number(r.id)));
  assert.equal(missing.length, 0, `${missing.length} outbox rows never arrived (e.g. ${JSON.stringify(missing[0])})`);
  return duplicates;
}

export const OUTBOX_SQL = `SELECT id, topic AS kind, key FROM "KafkaOutbox" ORDER BY id`;
export const PENDING_SQL = `SELECT COUNT(*) AS n FROM "KafkaOutbox" WHERE published_at IS NULL`;
export const PUBLISHED_SQL = `SELECT COUNT(*) AS n FROM "KafkaOutbox" WHERE published_at IS NOT NULL`;
