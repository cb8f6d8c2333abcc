// A private Redis for the many-node tests (Debian's redis-server, no disk),
// on a free TCP port of its own; stop() and start() again on the same port
// make an outage.
import { spawn } from "node:child_process";
import { createServer } from "node:net";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN;
if (!REDIS_BIN) throw new Error("REDIS_SERVER_BIN must name redis-server (Debian package redis-server)");

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startRedis() {
  const port = await freePort();
  let child = null;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(REDIS_BIN, ["--port", String(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--protected-mode", "no"], { stdio: ["ignore", "pipe", "pipe"] });
      let log = "";
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${log}`)), 10000);
        const onData = (chunk) => {
          log += chunk;
          if (/Ready to accept connections/.test(log)) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on("data", onData);
        child.stderr.on("data", onData);
        child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}:\n${log}`)));
      });
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const done = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await done;
      child = null;
    },
  };
  await redis.start();
  return redis;
}
