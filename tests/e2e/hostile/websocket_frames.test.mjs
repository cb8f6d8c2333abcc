// WebSocket frames a client must not send, against a real insightd: each is
// answered with the close code RFC 6455 names (1002 protocol error, 1007 invalid
// text, 1009 too big) before the connection ends, the server's close frame is
// not lost to a reset even while the client is still sending (it shuts its side
// and reads until the client's end), a client's own close is answered at once,
// and honest Socket.IO clients carry on meanwhile.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  withServer, openWebSocket, wsFrame, WsFrameParser, honestSocketIoLoad, assertHonest,
  assertAlive, sqliteOnly, MiB,
} from "./hostile_harness.mjs";

const PATH = "/api/socket/?EIO=4&transport=websocket";

// Opens an Engine.IO WebSocket and waits for its open packet.
async function openSession(port) {
  const { conn, rest } = await openWebSocket(port, PATH);
  const parser = new WsFrameParser();
  const frames = parser.push(rest);
  const pump = () => {
    const fresh = conn.data().subarray(conn.seen ?? 0);
    conn.seen = conn.data().length;
    frames.push(...parser.push(fresh));
  };
  conn.seen = conn.data().length;
  const opened = await conn.waitFor(() => {
    pump();
    return frames.some((f) => f.opcode === 1 && f.payload.toString().startsWith("0{"));
  }, 5000);
  assert.ok(opened, "no Engine.IO open packet on the WebSocket");
  return { conn, frames, pump };
}

function closeCode(frame) {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null;
}

// Sends `bytes`, then waits for the server's close frame; returns its code.
async function closeAnswer(port, send, { keepSending } = {}) {
  const { conn, frames, pump } = await openSession(port);
  await conn.write(send);
  let sending = true;
  const more = (async () => {
    // A client still streaming its oversized message after the server refused it.
    while (keepSending && sending && !conn.gone) {
      if (!(await conn.write(keepSending))) break;
    }
  })();
  const got = await conn.waitFor(() => {
    pump();
    return frames.some((f) => f.opcode === 8);
  }, 10000);
  sending = false;
  await more;
  const close = frames.find((f) => f.opcode === 8);
  // The client ends its side; the server, having shut its own, closes.
  conn.socket.end();
  const ended = await conn.waitFor(() => conn.closed || conn.error !== null, 5000);
  conn.destroy();
  return { got, code: close ? closeCode(close) : null, error: conn.error?.code ?? null, ended };
}

test("frames a client must not send get their close code, then the connection ends", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server }) => {
    const sio = await honestSocketIoLoad(server.url, { clients: 3, window: 5, deadlineMs: 5000 });
    const cases = [
      { name: "an unmasked frame", send: wsFrame(1, "4hello", { mask: false }), code: 1002 },
      { name: "reserved bits", send: Buffer.from([0xc1, 0x80, 1, 2, 3, 4]), code: 1002 },
      { name: "an unknown opcode", send: wsFrame(3, "x"), code: 1002 },
      { name: "a ping over 125 bytes", send: wsFrame(9, Buffer.alloc(126, 0x61)), code: 1002 },
      { name: "a continuation outside a message", send: wsFrame(0, "x"), code: 1002 },
      { name: "text that is not UTF-8", send: wsFrame(1, Buffer.from([0x34, 0xc3, 0x28])), code: 1007 },
      {
        name: "text not UTF-8 across fragments",
        send: Buffer.concat([wsFrame(1, Buffer.from([0x34, 0xe2, 0x82]), { fin: false }), wsFrame(0, Buffer.from([0x28]))]),
        code: 1007,
      },
      {
        // The header announces 4 MiB (over the 1 MB bound); the client keeps
        // streaming the payload after the server's refusal.
        name: "a message over the size bound, still being sent",
        send: wsFrame(2, Buffer.alloc(4 * MiB, 0x62)).subarray(0, 64 * 1024),
        keepSending: Buffer.alloc(64 * 1024, 0x62),
        code: 1009,
      },
    ];
    for (const c of cases) {
      const r = await closeAnswer(server.port, c.send, { keepSending: c.keepSending });
      assert.ok(r.got, `${c.name}: no close frame from the server (connection error: ${r.error})`);
      assert.equal(r.code, c.code, `${c.name}: close code`);
      assert.ok(r.ended, `${c.name}: the server did not close the connection after the client's end`);
    }
    assertAlive(server, "the protocol violations");
    assertHonest(await sio.stop(), "the protocol violations (Socket.IO)", { minRequests: 10 });
  });
});

test("a client's close is answered at once with its code and the connection released", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server }) => {
    for (const code of [1000, 1001, 4000]) {
      const started = Date.now();
      const { conn, frames, pump } = await openSession(server.port);
      const body = Buffer.alloc(2);
      body.writeUInt16BE(code);
      await conn.write(wsFrame(8, body));
      const answered = await conn.waitFor(() => {
        pump();
        return frames.some((f) => f.opcode === 8);
      }, 2000);
      assert.ok(answered, `close ${code}: no close frame within 2 s`);
      assert.equal(closeCode(frames.find((f) => f.opcode === 8)), code, `close ${code}: the answer echoes the code`);
      conn.socket.end();
      const closed = await conn.waitFor(() => conn.closed || conn.error !== null, 2000);
      assert.ok(closed, `close ${code}: the server kept the TCP connection after both close frames`);
      assert.ok(Date.now() - started < 4000, `close ${code}: took ${Date.now() - started} ms`);
      conn.destroy();
    }
    assertAlive(server, "the closing handshakes");
  });
});
