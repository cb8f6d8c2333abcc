// Starts and stops a real insightd for end-to-end tests: a private SQLite file
// (or the PostgreSQL schema the caller names), PORT=0, the port read from the log.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const BIN = process.env.INSIGHTD_BIN;
if (!BIN) throw new Error("INSIGHTD_BIN must name the insightd binary");

export function tempDir() {
  return mkdtempSync(join(tmpdir(), "insightd-e2e-"));
}

export async function startServer({ dir, env = {}, args = [] }) {
  const child = spawn(BIN, args, {
    cwd: dir,
    env: { PATH: process.env.PATH, PORT: "0", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`insightd did not start:\n${log}`)), 20000);
    const onData = (chunk) => {
      log += chunk;
      const m = /Listening on http:\/\/[^\s]+:(\d+)\s/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`insightd exited with ${code}:\n${log}`)));
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null) return child.exitCode;
      const done = new Promise((r) => child.once("exit", (code, sig) => r(code ?? sig)));
      child.kill(signal);
      return done;
    },
  };
}

export function sqlite(dbPath, sql) {
  return execFileSync("sqlite3", ["-json", dbPath, sql], { encoding: "utf8", maxBuffer: 1 << 28 }).trim();
}

export function sqliteRows(dbPath, sql) {
  const out = sqlite(dbPath, sql);
  return out ? JSON.parse(out) : [];
}

export function cleanup(dir) {
  rmSync(dir, { recursive: true, force: true });
}

// A private schema in the PostgreSQL server named by INSIGHTD_TEST_PG_URL;
// returns the URL insightd should use, a psql helper bound to it and `rows`
// (a query's rows as objects).
export function pgSchema() {
  const base = process.env.INSIGHTD_TEST_PG_URL;
  if (!base) throw new Error("INSIGHTD_TEST_PG_URL must name a PostgreSQL server (scripts/test sets it)");
  const schema = `e2e_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const psql = (sql) =>
    execFileSync("psql", [base, "-Atq", "-v", "ON_ERROR_STOP=1", "-c", `SET search_path TO ${schema}; ${sql}`], {
      encoding: "utf8",
    }).trim();
  execFileSync("psql", [base, "-q", "-c", `CREATE SCHEMA ${schema}`]);
  // The rows of a query as objects, like sqliteRows.
  const rows = (sql) => JSON.parse(
    execFileSync("psql", [base, "-Atq", "-v", "ON_ERROR_STOP=1", "-c",
      `SET search_path TO ${schema}; SELECT COALESCE(json_agg(q), '[]') FROM (${sql}) q`], {
      encoding: "utf8",
      maxBuffer: 1 << 28,
    }));
  return {
    url: `${base}${base.includes("?") ? "&" : "?"}options=-csearch_path%3D${schema}`,
    psql,
    rows,
    drop: () => execFileSync("psql", [base, "-q", "-c", `SET client_min_messages = warning; DROP SCHEMA IF EXISTS ${schema} CASCADE`]),
  };
}
