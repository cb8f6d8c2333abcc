// A WebSocket client that sends pings as fast as it can and never reads the
// pongs: the server must close the connection once what it owes that
// connection passes its limit (about 1 MiB) or its write deadline, instead of
// buffering pongs without bound. Honest Socket.IO clients (the official client)
// get every ack meanwhile.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  withServer, openWebSocket, wsFrame, flood, honestSocketIoLoad, honestHttpLoad, assertHonest,
  assertAlive, RssMonitor, assertRssGrowth, mb, sqliteOnly, MiB, sleep,
} from "./hostile_harness.mjs";

const MAX_BYTES = 512 * MiB;
const MAX_MS = 20000;

test("a WebSocket client that pings without reading is disconnected, memory stays bounded", async () => {
  await withServer({ open: sqliteOnly[0][1] }, async ({ server }) => {
    const sio = await honestSocketIoLoad(server.url, { clients: 3, window: 5, deadlineMs: 5000 });
    const honest = honestHttpLoad(server.url, { clients: 2 });
    const rss = new RssMonitor(server.child.pid, 25);

    const { conn } = await openWebSocket(server.port, "/api/socket/?EIO=4&transport=websocket");
    // Stop reading: the pongs pile up in our receive buffer, then the server's
    // send buffer, then wherever the server keeps what it still owes us.
    conn.socket.pause();
    // 125-byte pings (the largest a control frame may carry), 1,000 per write.
    const ping = wsFrame(0x9, Buffer.alloc(125, 0x61));
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => ping));
    const result = await flood(conn, () => burst, {
      maxBytes: MAX_BYTES,
      maxMs: MAX_MS,
      // Safety: stop early once the server has visibly lost the bound.
      stopWhen: () => rss.sample() - rss.before > 512 * MiB,
    });
    const closedBy = conn.gone;
    console.log(
      `ping flood: sent ${mb(result.bytes)} (${Math.round(result.bytes / ping.length)} pings) in ${result.ms} ms, ended by ${result.reason}` +
        `; server closed the connection: ${closedBy ? `yes (${conn.error?.code ?? "FIN"})` : "no"}` +
        `; RSS ${mb(rss.before)} -> peak ${mb(rss.peak)}`,
    );
    conn.destroy();
    await sleep(500);
    assertAlive(server, "the ping flood");
    const sioStats = await sio.stop();
    const httpStats = await honest.stop();
    assert.ok(
      closedBy,
      `the server kept the connection open through ${mb(result.bytes)} of pings in ${result.ms} ms without their pongs being read ` +
        `(the flood stopped on ${result.reason}); it must close it once about 1 MiB of output is pending`,
    );
    assertRssGrowth(rss, 128, "the ping flood");
    assertHonest(sioStats, "the ping flood (Socket.IO)", { minRequests: 10 });
    assertHonest(httpStats, "the ping flood (HTTP)");
  });
});
