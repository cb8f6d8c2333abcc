// What the pipeline's end-to-end tests share: `insightd work` processes, the
// fake OpenAI-compatible server as a process of its own, waiting on
// conditions, and reading the job tables of either database.
import { spawn, execFileSync } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { BIN, sqlite, sqliteRows, pgSchema } from "../ingest/harness.mjs";

export const FAKE_BIN = process.env.FAKE_OPENAI_BIN;
if (!FAKE_BIN) throw new Error("FAKE_OPENAI_BIN must name the fake-openai-server binary");

export const OPENAI_KEY = "sk-e2e-pipeline-secret-31337";
export const OPENAI_MODEL = "fake-model-e2e";

// Polls `fn` (sync or async) until it returns a truthy value; fails after `ms`.
export async function waitFor(fn, ms, what, log = () => "") {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${log()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Starts `insightd work` and waits for the seed's start-up line.
export async function startWorker({ dir, env = {} }) {
  const child = spawn(BIN, ["work"], {
    cwd: dir,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stdout.on("data", (c) => (log += c));
  child.stderr.on("data", (c) => (log += c));
  const exited = new Promise((r) => child.once("exit", (code, sig) => r(code ?? sig)));
  await Promise.race([
    waitFor(() => log.includes("All workers started successfully"), 20000, "insightd work", () => log),
    exited.then((c) => {
      throw new Error(`insightd work exited with ${c}:\n${log}`);
    }),
  ]);
  return {
    child,
    pid: child.pid,
    log: () => log,
    signal: (sig) => child.kill(sig),
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
      child.kill(signal);
      return exited;
    },
  };
}

// The fake OpenAI-compatible server in a process of its own (the analysis
// module's FakeOpenAiServer): `answer` is valid, slow (held 3 s),
// unauthorized, rate-limited, server-error or not-json.
export async function startFakeOpenAI(answer) {
  const child = spawn(FAKE_BIN, [OPENAI_KEY, OPENAI_MODEL, answer], { stdio: ["pipe", "pipe", "inherit"] });
  const requests = []; // arrival times (ms since the epoch)
  let baseUrl = null;
  const waiters = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    let m;
    if ((m = /^Listening on (\S+)/.exec(line))) baseUrl = m[1];
    else if ((m = /^requests (\d+) at (\S+)/.exec(line))) requests.push(Date.parse(m[2]));
    for (const w of waiters.splice(0)) w(line);
  });
  await waitFor(() => baseUrl, 10000, "the fake OpenAI server");
  const command = (text, reply) =>
    new Promise((resolve) => {
      const onLine = (line) => (line === reply ? resolve() : waiters.push(onLine));
      waiters.push(onLine);
      child.stdin.write(`${text}\n`);
    });
  return {
    baseUrl,
    requests: () => requests.slice(),
    answer: (mode) => command(`answer ${mode}`, "answer set"),
    waitForRequests: (n, ms = 20000) => waitFor(() => requests.length >= n, ms, `${n} requests to the fake`),
    async stop() {
      child.stdin.end();
      if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
    },
  };
}

// The environment that points insightd's OpenAI analyzer at the fake.
export function openaiEnv(fake) {
  return { OPENAI_API_KEY: OPENAI_KEY, OPENAI_BASE_URL: fake.baseUrl, OPENAI_MODEL: OPENAI_MODEL };
}

// Rows of a query as objects, from SQLite (a file path) or PostgreSQL (a
// pgSchema() handle); PostgreSQL returns them as JSON to keep types.
export function rows(db, sql) {
  if (typeof db === "string") return sqliteRows(db, sql);
  const out = db.psql(`SELECT COALESCE(json_agg(q), '[]') FROM (${sql}) q`);
  return JSON.parse(out);
}

// Runs a statement that returns no rows (UPDATE, DELETE) on either database.
export function execSql(db, sql) {
  if (typeof db === "string") sqlite(db, sql);
  else db.psql(sql);
}

export function postEvents(url, events) {
  return fetch(`${url}/api/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(events),
  }).then(async (res) => ({ status: res.status, body: await res.json() }));
}

export function makeEvents(prefix, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({
      eventId: `${prefix}-${i}`,
      eventType: i % 4 === 0 ? "page_view" : i % 4 === 1 ? "add_to_cart" : "click",
      userId: `user_${i % 7}`,
      sessionId: `session_${i % 9}`,
      timestamp: new Date().toISOString(),
      metadata: { page: i % 2 ? "/products" : "/checkout" },
    });
  }
  return out;
}

// The stores a scenario runs on. store(name, dir): {db (for rows()), env, drop()}.
export const STORES = ["SQLite", "PostgreSQL"];
export function store(name, dir) {
  if (name === "SQLite") return { db: join(dir, "data", "insightd.db"), env: {}, drop() {} };
  const pg = pgSchema();
  return { db: pg, env: { DATABASE_URL: pg.url }, drop: () => pg.drop() };
}

// Runs the insightd CLI to completion; returns {code, out}.
export function cli(dir, env, args) {
  try {
    const out = execFileSync(BIN, args, { cwd: dir, env: { PATH: process.env.PATH, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { code: 0, out };
  } catch (e) {
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
}
