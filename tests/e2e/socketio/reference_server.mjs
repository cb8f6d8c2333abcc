// Starts build/socketio-reference-server on a free port for one test file and
// stops it afterwards. The binary comes from REFERENCE_SERVER_BIN (ctest sets it).
import { spawn } from "node:child_process";
import { once } from "node:events";

export const BIN = process.env.REFERENCE_SERVER_BIN;
if (!BIN) throw new Error("REFERENCE_SERVER_BIN must name the socketio-reference-server binary");

export async function startReferenceServer() {
  const child = spawn(BIN, ["--host", "127.0.0.1", "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 10000);
    const onData = (chunk) => {
      output += chunk;
      const m = /listening on [^\s]+:(\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const [code] = await once(child, "exit");
      if (code !== 0) throw new Error(`server exited with ${code}:\n${output}`);
    },
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A WebSocket whose events are queued, so a test can wait for them in order.
export class QueuedSocket {
  constructor(WebSocketClass, url) {
    this.ws = new WebSocketClass(url);
    this.ws.binaryType = "arraybuffer";
    this.queues = { open: [], message: [], close: [] };
    this.waiters = { open: [], message: [], close: [] };
    this.ws.on("error", () => {});  // failures show up as "close"
    this.ws.on("open", () => this.push("open", null));
    this.ws.on("message", (data, isBinary) =>
      this.push("message", isBinary ? new Uint8Array(data) : data.toString()));
    this.ws.on("close", (code) => this.push("close", code));
  }

  push(type, value) {
    const waiter = this.waiters[type].shift();
    if (waiter) waiter(value);
    else this.queues[type].push(value);
  }

  // The next event of `type`; rejects after `timeout` ms.
  next(type, timeout = 3000) {
    if (this.queues[type].length) return Promise.resolve(this.queues[type].shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeout} ms`)), timeout);
      this.waiters[type].push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }

  // The next message that is not a ping ("2").
  async nextPacket(timeout = 3000) {
    for (;;) {
      const data = await this.next("message", timeout);
      if (data !== "2") return data;
    }
  }

  send(data) {
    this.ws.send(data);
  }

  close() {
    this.ws.close();
  }
}
