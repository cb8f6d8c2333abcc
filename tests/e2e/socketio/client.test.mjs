// The official socket.io-client 4.x against socketio-reference-server, over
// WebSocket only, polling only, and polling upgraded to WebSocket: connection
// with auth, emits with acks, binary attachments, namespaces and a disconnect
// from the server side.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

import { sleep, startReferenceServer } from "./reference_server.mjs";

let server;
before(async () => {
  server = await startReferenceServer();
});
after(async () => {
  await server.stop();
});

const once = (emitter, event, timeout = 5000) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeout} ms`)), timeout);
    emitter.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });

const modes = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};

for (const [mode, transportOptions] of Object.entries(modes)) {
  describe(`socket.io-client over ${mode}`, () => {
    const connect = async (nsp = "/", auth = {}) => {
      const socket = io(`${server.url}${nsp}`, {
        ...transportOptions,
        auth,
        reconnection: false,
        forceNew: true,
      });
      const [greeting] = await once(socket, "auth");
      assert.ok(socket.connected);
      if (mode === "upgrade" && socket.io.engine.transport.name !== "websocket") {
        await once(socket.io.engine, "upgrade");
      }
      return { socket, greeting };
    };

    it("connects with auth and the expected transport", async () => {
      const { socket, greeting } = await connect("/", { writeKey: "k1" });
      assert.deepEqual(greeting, { writeKey: "k1" });
      assert.equal(socket.io.engine.transport.name, mode === "polling" ? "polling" : "websocket");
      assert.notEqual(socket.id, socket.io.engine.id);  // the Socket.IO sid is its own
      socket.disconnect();
    });

    it("gets acks for emits, in order, the first with id 0", async () => {
      const { socket } = await connect();
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => socket.emitWithAck("message-with-ack", i, { i })));
      answers.forEach((answer, i) => assert.deepEqual(answer, i));
      const multi = await new Promise((resolve) =>
        socket.emit("message-with-ack", "a", 2, [true], (...args) => resolve(args)));
      assert.deepEqual(multi, ["a", 2, [true]]);
      socket.disconnect();
    });

    it("round-trips binary attachments in events and acks", async () => {
      const { socket } = await connect();
      const payload = { file: Buffer.from([1, 2, 3, 250]), nested: [Buffer.from("hi")] };
      const back = once(socket, "message-back");
      socket.emit("message", "bin", payload, Buffer.alloc(0));
      const [name, echoed, empty] = await back;
      assert.equal(name, "bin");
      assert.deepEqual(Buffer.from(echoed.file), payload.file);
      assert.deepEqual(Buffer.from(echoed.nested[0]), Buffer.from("hi"));
      assert.equal(Buffer.from(empty).length, 0);
      const acked = await socket.emitWithAck("message-with-ack", Buffer.from([9, 8, 7]));
      assert.deepEqual(Buffer.from(acked), Buffer.from([9, 8, 7]));
      socket.disconnect();
    });

    it("carries large payloads", async () => {
      const { socket } = await connect();
      const big = "x".repeat(200_000);
      const echoed = await socket.emitWithAck("message-with-ack", big);
      assert.equal(echoed.length, big.length);
      socket.disconnect();
    });

    it("multiplexes namespaces on one connection and refuses unknown ones", async () => {
      const { socket: main } = await connect();
      const custom = main.io.socket("/custom", { auth: { token: "abc" } });
      const [greeting] = await once(custom, "auth");
      assert.deepEqual(greeting, { token: "abc" });
      assert.deepEqual(await custom.emitWithAck("message-with-ack", "c"), "c");
      assert.deepEqual(await main.emitWithAck("message-with-ack", "m"), "m");
      const unknown = main.io.socket("/nope");
      const [error] = await once(unknown, "connect_error");
      assert.equal(error.message, "Invalid namespace");
      custom.disconnect();
      assert.deepEqual(await main.emitWithAck("message-with-ack", "still"), "still");
      main.disconnect();
    });

    it("stays connected across heartbeats", async () => {
      const { socket } = await connect();
      let closed = false;
      socket.on("disconnect", () => (closed = true));
      await sleep(1500);  // five ping intervals of the reference server
      assert.equal(closed, false);
      assert.deepEqual(await socket.emitWithAck("message-with-ack", "alive"), "alive");
      socket.disconnect();
    });

    it("hears a disconnect from the server and does not reconnect", async () => {
      const { socket } = await connect();
      const disconnected = once(socket, "disconnect");
      socket.emit("server-disconnect");
      const [reason] = await disconnected;
      assert.equal(reason, "io server disconnect");
      assert.equal(socket.connected, false);
    });
  });
}

describe("socket.io-client upgrade", () => {
  it("delivers what was sent before, during and after the upgrade, in order", async () => {
    const socket = io(server.url, { reconnection: false, forceNew: true });
    const engine = socket.io.engine;
    const upgrading = once(engine, "upgrading");
    const upgraded = once(engine, "upgrade");
    // The CONNECT reply may itself be held back by the upgrade: it can come last.
    const connected = once(socket, "connect");
    const acks = [];
    let n = 0;
    const send = (count) => {
      for (let i = 0; i < count; i++) acks.push(socket.emitWithAck("message-with-ack", n++));
    };
    send(5);  // before the connection: the client buffers them
    socket.on("connect", () => send(10));  // over polling
    await upgrading;
    assert.equal(engine.transport.name, "polling");
    send(10);  // while polling pauses: held until the WebSocket takes over
    await upgraded;
    await connected;
    send(10);
    const sent = n;
    assert.deepEqual(await Promise.all(acks), Array.from({ length: sent }, (_, i) => i));
    assert.equal(engine.transport.name, "websocket");
    socket.disconnect();
  });
});
