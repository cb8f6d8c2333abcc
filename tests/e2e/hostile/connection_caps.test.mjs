// Per-address caps (MAX_CONNECTIONS_PER_ADDRESS, MAX_SESSIONS_PER_ADDRESS): one
// address that holds too many idle connections or opens too many Engine.IO
// sessions is refused at once (503/429 with Retry-After, or the connection
// closed), never left hanging, and is served again once it lets go. Honest
// clients come from another loopback address (127.0.0.2) and are unaffected.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  withServer, RawConnection, request, postEvents, honestHttpLoad, honestSocketIoLoad, assertHonest,
  assertAlive, RssMonitor, assertRssGrowth, validEvent, sqliteOnly, sleep, poll, unique,
} from "./hostile_harness.mjs";

const HONEST_ADDRESS = "127.0.0.2";

test("MAX_CONNECTIONS_PER_ADDRESS=20: the 26th connection is refused at once, served again after", async () => {
  await withServer({ open: sqliteOnly[0][1], env: { MAX_CONNECTIONS_PER_ADDRESS: "20" } }, async ({ server }) => {
    const honest = honestHttpLoad(server.url, { clients: 4, localAddress: HONEST_ADDRESS });
    const rss = new RssMonitor(server.child.pid);
    const idle = [];
    for (let i = 0; i < 25; i++) idle.push(await RawConnection.open(server.port));
    await sleep(300);
    const stillOpen = idle.filter((c) => !c.gone).length;

    const tag = unique();
    const probe = await RawConnection.open(server.port);
    const body = JSON.stringify(validEvent(`cap_probe_${tag}`));
    const started = Date.now();
    await probe.write(`POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await probe.waitFor(() => probe.gone || probe.responses().some((r) => r.complete), 2000);
    const elapsed = Date.now() - started;
    const answer = probe.responses().find((r) => r.complete);
    await probe.waitFor(() => probe.gone, 500); // for the log: does it close after the 503?
    console.log(
      `25 idle connections (${stillOpen} still open after 300 ms); a new one got ${answer ? `HTTP ${answer.status} (Retry-After: ${answer.headers["retry-after"]})` : "no answer"}` +
        ` after ${elapsed} ms; the connection was ${probe.gone ? "closed" : "left open"}`,
    );
    probe.destroy();
    assertAlive(server, "25 idle connections");
    if (answer) {
      assert.equal(answer.status, 503, `a request over the cap (25 idle connections from one address, MAX_CONNECTIONS_PER_ADDRESS=20) was answered ${answer.status}, expected 503 or a closed connection`);
      assert.ok(answer.headers["retry-after"], "the 503 over the connection cap must carry Retry-After");
    } else {
      assert.ok(probe.gone, "a request over the connection cap got neither an answer nor a closed connection within 2 s (it hangs)");
    }

    for (const c of idle) c.destroy();
    // Once they are gone the address is served again.
    let last;
    const served = await poll(async () => {
      try {
        last = await postEvents(server.url, validEvent(`cap_after_${tag}_${Date.now()}`), { timeoutMs: 2000 });
        return last.status === 200;
      } catch (err) {
        last = { status: err.message };
        return false;
      }
    }, 5000, 250);
    assert.ok(served, `after the 25 idle connections closed, a normal request still failed: ${last?.status} ${last?.text ?? ""}`);
    assertRssGrowth(rss, 128, "25 idle connections");
    assertHonest(await honest.stop(), "25 idle connections from another address");
  });
});

test("MAX_SESSIONS_PER_ADDRESS=10: the 11th Engine.IO handshake is refused at once with Retry-After", async () => {
  await withServer({ open: sqliteOnly[0][1], env: { MAX_SESSIONS_PER_ADDRESS: "10" } }, async ({ server }) => {
    const honest = honestHttpLoad(server.url, { clients: 2, localAddress: HONEST_ADDRESS });
    const sio = await honestSocketIoLoad(server.url, { clients: 2, window: 3, localAddress: HONEST_ADDRESS });
    const rss = new RssMonitor(server.child.pid);
    const handshake = () => request(server.url, { path: "/api/socket/?EIO=4&transport=polling", timeoutMs: 2000 });
    for (let i = 1; i <= 10; i++) {
      const res = await handshake();
      assert.equal(res.status, 200, `Engine.IO handshake ${i} of 10 (within the cap) failed: ${res.status} ${res.text}`);
      assert.match(res.text, /^0\{.*"sid"/, `Engine.IO handshake ${i}: not an open packet: ${res.text}`);
    }
    let res;
    try {
      res = await handshake();
    } catch (err) {
      assert.fail(`the 11th Engine.IO handshake from one address was not answered within 2 s: ${err.message}`);
    }
    console.log(`11th Engine.IO handshake: HTTP ${res.status} in ${res.ms} ms, Retry-After: ${res.headers["retry-after"]}, ${res.text.slice(0, 120)}`);
    assert.ok([503, 429].includes(res.status), `the 11th Engine.IO handshake from one address (MAX_SESSIONS_PER_ADDRESS=10) got ${res.status}, expected 503 or 429: ${res.text.slice(0, 200)}`);
    assert.ok(res.headers["retry-after"], "the refused 11th handshake must carry Retry-After");
    // Another address still gets a session.
    const other = await request(server.url, { path: "/api/socket/?EIO=4&transport=polling", localAddress: HONEST_ADDRESS, timeoutMs: 2000 });
    assert.equal(other.status, 200, `a handshake from ${HONEST_ADDRESS} failed while 127.0.0.1 was at its cap: ${other.status}`);
    assertAlive(server, "11 Engine.IO handshakes");
    assertRssGrowth(rss, 128, "11 Engine.IO handshakes");
    assertHonest(await sio.stop(), "the session cap (Socket.IO from another address)");
    assertHonest(await honest.stop(), "the session cap (HTTP from another address)");
  });
});
