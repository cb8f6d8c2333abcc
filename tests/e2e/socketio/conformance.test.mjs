// Conformance of socketio-reference-server to the Engine.IO v4 and Socket.IO v5
// protocol documents, written from the behaviour their "Test suite" sections
// describe: raw HTTP (fetch) and raw WebSocket (ws), no Socket.IO client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";

import { QueuedSocket, sleep, startReferenceServer } from "./reference_server.mjs";

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

let server;
before(async () => {
  server = await startReferenceServer();
});
after(async () => {
  await server.stop();
});

async function openPolling(path) {
  const res = await fetch(`${server.url}${path}?EIO=4&transport=polling`);
  assert.equal(res.status, 200);
  const body = await res.text();
  assert.equal(body[0], "0");
  return JSON.parse(body.substring(1)).sid;
}

const poll = (path, sid, extra = "") =>
  fetch(`${server.url}${path}?EIO=4&transport=polling&sid=${sid}${extra}`);
const push = (path, sid, body) =>
  fetch(`${server.url}${path}?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body });
const socket = (path, query) => new QueuedSocket(WebSocket, `${server.wsUrl}${path}?${query}`);

function checkOpenPacket(text, upgrades) {
  assert.equal(text[0], "0");
  const open = JSON.parse(text.substring(1));
  assert.deepEqual(Object.keys(open).sort(),
                   ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
  assert.equal(typeof open.sid, "string");
  assert.deepEqual(open.upgrades, upgrades);
  assert.equal(open.pingInterval, PING_INTERVAL);
  assert.equal(open.pingTimeout, PING_TIMEOUT);
  assert.equal(open.maxPayload, 1000000);
  return open.sid;
}

// Both paths speak Engine.IO; only /engine.io/ echoes messages.
for (const path of ["/engine.io/", "/socket.io/"]) {
  describe(`Engine.IO at ${path}`, () => {
    describe("handshake", () => {
      it("opens a polling session", async () => {
        const res = await fetch(`${server.url}${path}?EIO=4&transport=polling`);
        assert.equal(res.status, 200);
        checkOpenPacket(await res.text(), ["websocket"]);
      });

      it("accepts the path without its trailing slash", async () => {
        const res = await fetch(`${server.url}${path.slice(0, -1)}?EIO=4&transport=polling`);
        assert.equal(res.status, 200);
      });

      it("refuses a bad EIO, transport or method with 400", async () => {
        for (const query of ["transport=polling", "EIO=abc&transport=polling", "EIO=4",
                             "EIO=4&transport=abc"]) {
          const res = await fetch(`${server.url}${path}?${query}`);
          assert.equal(res.status, 400, query);
        }
        for (const method of ["POST", "PUT"]) {
          const res = await fetch(`${server.url}${path}?EIO=4&transport=polling`, { method });
          assert.equal(res.status, 400, method);
        }
      });

      it("opens a WebSocket session without upgrades", async () => {
        const ws = socket(path, "EIO=4&transport=websocket");
        checkOpenPacket(await ws.next("message"), []);
        ws.close();
      });

      it("closes WebSockets with a bad EIO or transport", async () => {
        for (const query of ["transport=websocket", "EIO=abc&transport=websocket", "EIO=4",
                             "EIO=4&transport=abc"]) {
          await socket(path, query).next("close");
        }
      });
    });

    describe("heartbeat", () => {
      it("pings a polling client, which answers with pong", async () => {
        const sid = await openPolling(path);
        for (let i = 0; i < 3; i++) {
          const res = await poll(path, sid);
          assert.equal(res.status, 200);
          assert.equal(await res.text(), "2");
          assert.equal((await push(path, sid, "3")).status, 200);
        }
      });

      it("closes a polling session without pong", async () => {
        const sid = await openPolling(path);
        // The server may close at exactly pingInterval + pingTimeout; a loaded
        // machine (sanitizer builds in CI) fires its timer a little late, so
        // give it a margin: once closed, the session never comes back.
        await sleep(PING_INTERVAL + PING_TIMEOUT + 500);
        assert.equal((await poll(path, sid)).status, 400);
      });

      it("pings a WebSocket client", async () => {
        const ws = socket(path, "EIO=4&transport=websocket");
        await ws.next("message");
        for (let i = 0; i < 3; i++) {
          assert.equal(await ws.next("message"), "2");
          ws.send("3");
        }
        ws.close();
      });

      it("closes a WebSocket without pong", async () => {
        const ws = socket(path, "EIO=4&transport=websocket");
        await ws.next("close", PING_INTERVAL + PING_TIMEOUT + 2000);
      });
    });

    describe("close", () => {
      it("ends the waiting poll with noop when a polling client closes", async () => {
        const sid = await openPolling(path);
        const [res] = await Promise.all([poll(path, sid), sleep(20).then(() => push(path, sid, "1"))]);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "6");
        assert.equal((await poll(path, sid)).status, 400);
      });

      it("closes a WebSocket whose client sends close", async () => {
        const ws = socket(path, "EIO=4&transport=websocket");
        await ws.next("message");
        ws.send("1");
        await ws.next("close");
      });

      it("closes the session on a second concurrent poll", async () => {
        const sid = await openPolling(path);
        const [first, second] = await Promise.all([
          poll(path, sid),
          sleep(20).then(() => poll(path, sid, "&t=burst")),
        ]);
        assert.equal(first.status, 200);
        assert.equal(await first.text(), "1");
        assert.equal(second.status, 400);
        assert.equal((await poll(path, sid)).status, 400);
      });

      it("closes the session when a poll is cancelled", async () => {
        const sid = await openPolling(path);
        const controller = new AbortController();
        fetch(`${server.url}${path}?EIO=4&transport=polling&sid=${sid}`, {
          signal: controller.signal,
        }).catch(() => {});
        await sleep(20);
        controller.abort();
        await sleep(20);
        assert.equal((await poll(path, sid)).status, 400);
      });
    });

    describe("upgrade", () => {
      it("upgrades polling to WebSocket with probe, noop and upgrade", async () => {
        const sid = await openPolling(path);
        const ws = socket(path, `EIO=4&transport=websocket&sid=${sid}`);
        await ws.next("open");
        ws.send("2probe");
        assert.equal(await ws.next("message"), "3probe");
        const res = await poll(path, sid);
        assert.equal(res.status, 200);
        assert.equal(await res.text(), "6");
        ws.send("5");
        if (path === "/engine.io/") {
          ws.send("4hello");
          assert.equal(await ws.nextPacket(), "4hello");
        }
        ws.close();
      });

      it("answers polls with 400 after the upgrade", async () => {
        const sid = await openPolling(path);
        const ws = socket(path, `EIO=4&transport=websocket&sid=${sid}`);
        await ws.next("open");
        ws.send("2probe");
        await ws.next("message");
        ws.send("5");
        await sleep(20);
        assert.equal((await poll(path, sid)).status, 400);
        if (path === "/engine.io/") {
          ws.send("4hello");
          assert.equal(await ws.nextPacket(), "4hello");
        }
        ws.close();
      });

      it("closes a second WebSocket for an upgraded session", async () => {
        const sid = await openPolling(path);
        const ws = socket(path, `EIO=4&transport=websocket&sid=${sid}`);
        await ws.next("open");
        ws.send("2probe");
        await ws.next("message");
        ws.send("5");
        await sleep(20);
        await socket(path, `EIO=4&transport=websocket&sid=${sid}`).next("close");
        if (path === "/engine.io/") {
          ws.send("4hello");
          assert.equal(await ws.nextPacket(), "4hello");
        }
        ws.close();
      });
    });
  });
}

describe("Engine.IO messages (echo at /engine.io/)", () => {
  const path = "/engine.io/";

  it("echoes one plain-text packet over polling", async () => {
    const sid = await openPolling(path);
    const res = await push(path, sid, "4hello");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");
    assert.equal(await (await poll(path, sid)).text(), "4hello");
  });

  it("echoes several packets over polling", async () => {
    const sid = await openPolling(path);
    await push(path, sid, "4test1\x1e4test2\x1e4test3");
    assert.equal(await (await poll(path, sid)).text(), "4test1\x1e4test2\x1e4test3");
  });

  it("echoes text and binary over polling", async () => {
    const sid = await openPolling(path);
    await push(path, sid, "4hello\x1ebAQIDBA==");
    assert.equal(await (await poll(path, sid)).text(), "4hello\x1ebAQIDBA==");
  });

  it("closes the session on an invalid packet over polling", async () => {
    const sid = await openPolling(path);
    assert.equal((await push(path, sid, "abc")).status, 400);
    assert.equal((await poll(path, sid)).status, 400);
  });

  it("refuses binary content over polling", async () => {
    const sid = await openPolling(path);
    const res = await fetch(`${server.url}${path}?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array([1, 2, 3]),
    });
    assert.equal(res.status, 400);
  });

  it("echoes text and binary over WebSocket, binary without a type byte", async () => {
    const ws = socket(path, "EIO=4&transport=websocket");
    await ws.next("message");
    ws.send("4hello");
    assert.equal(await ws.nextPacket(), "4hello");
    ws.send(Uint8Array.from([1, 2, 3, 4]));
    assert.deepEqual(await ws.nextPacket(), Uint8Array.from([1, 2, 3, 4]));
    ws.close();
  });

  it("closes a WebSocket on an invalid packet", async () => {
    const ws = socket(path, "EIO=4&transport=websocket");
    await ws.next("message");
    ws.send("abc");
    await ws.next("close");
  });

  it("flushes messages buffered during the upgrade over the WebSocket", async () => {
    const sid = await openPolling(path);
    const ws = socket(path, `EIO=4&transport=websocket&sid=${sid}`);
    await ws.next("open");
    ws.send("2probe");
    assert.equal(await ws.next("message"), "3probe");
    await push(path, sid, "4during");
    ws.send("5");
    assert.equal(await ws.nextPacket(), "4during");
    ws.close();
  });
});

describe("Socket.IO at /socket.io/", () => {
  const path = "/socket.io/";

  async function connectedSocket() {
    const ws = socket(path, "EIO=4&transport=websocket");
    await ws.next("message");
    ws.send("40");
    await ws.nextPacket();  // CONNECT reply
    await ws.nextPacket();  // "auth"
    return ws;
  }

  describe("connect", () => {
    it("connects to the main namespace with a Socket.IO sid of its own", async () => {
      const ws = socket(path, "EIO=4&transport=websocket");
      const engineSid = JSON.parse((await ws.next("message")).substring(1)).sid;
      ws.send("40");
      const reply = await ws.nextPacket();
      assert.ok(reply.startsWith("40"));
      const handshake = JSON.parse(reply.substring(2));
      assert.deepEqual(Object.keys(handshake), ["sid"]);
      assert.equal(typeof handshake.sid, "string");
      assert.notEqual(handshake.sid, engineSid);
      assert.equal(await ws.nextPacket(), '42["auth",{}]');
      ws.close();
    });

    it("passes the auth payload", async () => {
      const ws = socket(path, "EIO=4&transport=websocket");
      await ws.next("message");
      ws.send('40{"token":"123"}');
      assert.ok((await ws.nextPacket()).startsWith("40{"));
      assert.equal(await ws.nextPacket(), '42["auth",{"token":"123"}]');
      ws.close();
    });

    it("connects to a custom namespace, with and without payload", async () => {
      for (const [send, auth] of [["40/custom,", "{}"], ['40/custom,{"token":"abc"}', '{"token":"abc"}']]) {
        const ws = socket(path, "EIO=4&transport=websocket");
        await ws.next("message");
        ws.send(send);
        const reply = await ws.nextPacket();
        assert.ok(reply.startsWith("40/custom,"), reply);
        assert.deepEqual(Object.keys(JSON.parse(reply.substring(10))), ["sid"]);
        assert.equal(await ws.nextPacket(), `42/custom,["auth",${auth}]`);
        ws.close();
      }
    });

    it("refuses an unknown namespace", async () => {
      const ws = socket(path, "EIO=4&transport=websocket");
      await ws.next("message");
      ws.send("40/random");
      assert.equal(await ws.nextPacket(), '44/random,{"message":"Invalid namespace"}');
      ws.close();
    });

    it("closes on an invalid handshake", async () => {
      const ws = socket(path, "EIO=4&transport=websocket");
      await ws.next("message");
      ws.send("4abc");
      await ws.next("close");
    });

    it("closes when no CONNECT comes", async () => {
      const ws = socket(path, "EIO=4&transport=websocket");
      await ws.next("close", 3000);
    });

    it("closes a client that answers pings but never joins, after connectTimeout", async () => {
      const ws = socket(path, "EIO=4&transport=websocket");
      await ws.next("message");
      const started = Date.now();
      ws.ws.on("message", (data) => { if (data.toString() === "2") ws.send("3"); });
      await ws.next("close", 3000);
      assert.ok(Date.now() - started >= 900, "closed before connectTimeout");
    });
  });

  describe("disconnect", () => {
    it("leaves the main namespace and keeps the Engine.IO session", async () => {
      const ws = await connectedSocket();
      ws.send("41");
      assert.equal(await ws.next("message"), "2");
      ws.close();
    });

    it("leaves a custom namespace and keeps the main one", async () => {
      const ws = await connectedSocket();
      ws.send("40/custom");
      await ws.nextPacket();
      await ws.nextPacket();
      ws.send("41/custom");
      ws.send('42["message","message to main namespace"]');
      assert.equal(await ws.nextPacket(), '42["message-back","message to main namespace"]');
      ws.close();
    });
  });

  describe("message", () => {
    it("answers a plain-text event", async () => {
      const ws = await connectedSocket();
      ws.send('42["message",1,"2",{"3":[true]}]');
      assert.equal(await ws.nextPacket(), '42["message-back",1,"2",{"3":[true]}]');
      ws.close();
    });

    it("answers an event with binary attachments", async () => {
      const ws = await connectedSocket();
      ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      ws.send(Uint8Array.from([1, 2, 3]));
      ws.send(Uint8Array.from([4, 5, 6]));
      assert.equal(await ws.nextPacket(),
                   '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual(await ws.nextPacket(), Uint8Array.from([1, 2, 3]));
      assert.deepEqual(await ws.nextPacket(), Uint8Array.from([4, 5, 6]));
      ws.close();
    });

    it("acknowledges, from ack id 0 on", async () => {
      const ws = await connectedSocket();
      ws.send('420["message-with-ack",1]');
      assert.equal(await ws.nextPacket(), "430[1]");
      ws.send('42456["message-with-ack",1,"2",{"3":[false]}]');
      assert.equal(await ws.nextPacket(), '43456[1,"2",{"3":[false]}]');
      ws.close();
    });

    it("acknowledges with binary attachments", async () => {
      const ws = await connectedSocket();
      ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      ws.send(Uint8Array.from([1, 2, 3]));
      ws.send(Uint8Array.from([4, 5, 6]));
      assert.equal(await ws.nextPacket(),
                   '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
      assert.deepEqual(await ws.nextPacket(), Uint8Array.from([1, 2, 3]));
      assert.deepEqual(await ws.nextPacket(), Uint8Array.from([4, 5, 6]));
      ws.close();
    });

    it("takes attachments spread over several polling requests", async () => {
      const sid = await openPolling(path);
      await push(path, sid, "40");
      // The CONNECT reply, then "auth" (the reference server sends it a few ms
      // later, so it may take a second poll).
      let greeting = "";
      while (!greeting.includes('42["auth"')) greeting += await (await poll(path, sid)).text();
      await push(path, sid, '451-["message",{"_placeholder":true,"num":0}]');
      await push(path, sid, "bAQID");
      const body = await (await poll(path, sid)).text();
      assert.equal(body, '451-["message-back",{"_placeholder":true,"num":0}]\x1ebAQID');
    });

    for (const bad of ["4abc", "42{}", '42abc["message-with-ack",1,"2",{"3":[false]}]', "45",
                       '42["disconnect"]', '42/custom,["message"]']) {
      it(`closes the connection on ${bad}`, async () => {
        const ws = await connectedSocket();
        ws.send(bad);
        await ws.next("close");
      });
    }
  });
});
