// @insightd/client and @insightd/react in Debian's chromium (playwright-core)
// against a real insightd on SQLite, the page served from another origin (a
// port of its own) so that CORS is real:
//  1. a click in the example app (the seed's Option A) stores the event with
//     the right eventId, sessionId, userId and times;
//  2. offline, events tracked, a reload while offline, then online: each
//     arrives exactly once;
//  3. insightd killed (-9) and restarted while the page sends 1,000 events:
//     each arrives exactly once;
//  4. WebSocket and polling blocked: events arrive over POST /api/events
//     (and from a page of an origin PUBLIC_URL does not name, none does);
//  5. the tab closed right after tracking: sendBeacon delivers them;
//  6. the queue full: the oldest are dropped and counted, the queue (and its
//     IndexedDB copy) stays bounded, the newest arrive once the way is open.
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, cleanup, sqliteRows } from "../../../../tests/e2e/ingest/harness.mjs";
import { buildPages, serveFolder, launch, startInsightd } from "./harness.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe("@insightd/client in a browser", () => {
  let dir;
  let pages;
  let site;
  let server;
  let browser;
  const rows = (sql) => sqliteRows(join(dir, "data", "insightd.db"), sql);
  const count = (type) => Number(rows(`SELECT COUNT(*) AS n FROM "Event" WHERE event_type = '${type}'`)[0].n);
  const testPage = (query = "", url = server.url) => `${site.origin}/test.html?insightd=${encodeURIComponent(url)}${query}`;
  // A page with the client loaded.
  const open = async (context, query, url) => {
    const page = await context.newPage();
    page.on("pageerror", (e) => console.error("page error:", e.message));
    await page.goto(testPage(query, url));
    await page.waitForFunction(() => window.analytics !== undefined);
    return page;
  };
  const blockSocket = async (context) => {
    await context.route("**/api/socket/**", (route) => route.abort());
    await context.routeWebSocket(/\/api\/socket\//, (ws) => ws.close());
  };

  before(async () => {
    dir = tempDir();
    pages = tempDir();
    site = await serveFolder(pages);
    server = await startInsightd(dir, site.origin);
    await buildPages(pages, server.url);
    browser = await launch();
  });

  after(async () => {
    if (browser) await browser.close();
    if (server) await server.stop("SIGKILL");
    site?.close();
    cleanup(dir);
    cleanup(pages);
  });

  it("stores a click in the example app with its ids and times", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${site.origin}/example/`);
    const before = Date.now();
    await page.getByRole("button", { name: "Track Event" }).click();
    await until(() => count("button_click") === 1, 10000, "the click's event");
    const [e] = rows(`SELECT event_id, user_id, session_id, timestamp, received_at, metadata FROM "Event" WHERE event_type = 'button_click'`);
    assert.match(e.event_id, /^[0-9A-HJKMNP-TV-Z]{26}$/, "a ULID");
    assert.match(e.user_id, /^anon_[0-9a-f]{24}$/, "the persisted anonymous id");
    assert.match(e.session_id, /^s_[0-9a-f]{24}$/);
    assert.deepEqual(JSON.parse(e.metadata), { button: "submit", page: "checkout" });
    const t = Date.parse(e.timestamp);
    assert.ok(t >= before - 2000 && t <= Date.now() + 1000, `timestamp ${e.timestamp}`);
    // A second click: the same session and user, a new id.
    await page.getByRole("button", { name: "Track Event" }).click();
    await until(() => count("button_click") === 2, 10000, "the second click");
    const both = rows(`SELECT event_id, user_id, session_id FROM "Event" WHERE event_type = 'button_click' ORDER BY received_at`);
    assert.equal(both[1].session_id, e.session_id);
    assert.equal(both[1].user_id, e.user_id);
    assert.notEqual(both[1].event_id, e.event_id);
    assert.ok(both[1].event_id > e.event_id, "time-ordered ids");
    await context.close();
  });

  it("keeps events tracked offline across a reload and sends each once when online", async () => {
    const context = await browser.newContext();
    const page = await open(context);
    await until(() => page.evaluate(() => window.analytics.stats().transport !== "none"), 10000, "a connection");
    await context.setOffline(true);
    await page.evaluate(() => {
      for (let i = 0; i < 20; i++) window.analytics.track("offline_event", { i });
    });
    await sleep(1500);  // the client tries, and fails, meanwhile
    assert.equal(count("offline_event"), 0);
    await page.reload().catch(() => {});  // fails: offline
    await context.setOffline(false);
    await page.goto(testPage());
    await until(() => count("offline_event") === 20, 15000, "the 20 offline events");
    await sleep(500);
    const stored = rows(`SELECT event_id, metadata FROM "Event" WHERE event_type = 'offline_event'`);
    assert.equal(stored.length, 20);
    assert.deepEqual(stored.map((r) => JSON.parse(r.metadata).i).sort((a, b) => a - b), [...Array(20).keys()]);
    await until(() => page.evaluate(() => window.analytics.stats().queued === 0), 5000, "an empty queue");
    await context.close();
  });

  it("delivers 1,000 events exactly once across a kill -9 and restart of insightd", async () => {
    const context = await browser.newContext();
    const page = await open(context);
    const port = server.port;
    await page.evaluate(() => {
      let i = 0;
      const timer = setInterval(() => {
        for (let k = 0; k < 10 && i < 1000; k++, i++) window.analytics.track("kill_event", { i });
        if (i >= 1000) clearInterval(timer);
      }, 5);
    });
    await sleep(300);
    await server.stop("SIGKILL");
    await sleep(1000);
    server = await startInsightd(dir, site.origin, port);
    await until(() => count("kill_event") === 1000, 60000, "1,000 events after the restart");
    await until(() => page.evaluate(() => window.analytics.stats().queued === 0), 20000, "an empty queue");
    const stats = await page.evaluate(() => window.analytics.stats());
    console.log(`kill -9 under load: ${JSON.stringify(stats)}`);
    assert.equal(count("kill_event"), 1000, "each stored once");
    const distinct = rows(`SELECT COUNT(DISTINCT json_extract(metadata, '$.i')) AS n FROM "Event" WHERE event_type = 'kill_event'`);
    assert.equal(distinct[0].n, 1000);
    assert.equal(stats.delivered, 1000);
    await context.close();
  });

  it("falls back to POST /api/events when WebSocket and polling are blocked", async () => {
    const context = await browser.newContext();
    await blockSocket(context);
    const page = await open(context);
    await page.evaluate(() => {
      for (let i = 0; i < 10; i++) window.analytics.track("http_event", { i });
    });
    await until(() => count("http_event") === 10, 20000, "10 events over HTTP");
    assert.equal(await page.evaluate(() => window.analytics.stats().transport), "http");
    // The same page from an origin insightd does not know (PUBLIC_URL names
    // another): refused (403 origin_not_allowed), reported, nothing stored.
    const stranger = await serveFolder(pages);
    try {
      const foreign = await context.newPage();
      await foreign.goto(`${stranger.origin}/test.html?insightd=${encodeURIComponent(server.url)}`);
      await foreign.waitForFunction(() => window.analytics !== undefined);
      await foreign.evaluate(() => window.analytics.track("foreign_event"));
      const rejected = await until(() => foreign.evaluate(() => window.events.find((e) => e.type === "rejected")), 15000, "the refusal");
      assert.equal(rejected.code, "origin_not_allowed");
      assert.equal(count("foreign_event"), 0);
    } finally {
      stranger.close();
    }
    await context.close();
  });

  it("hands the last events to sendBeacon when the tab closes", async () => {
    const context = await browser.newContext();
    await blockSocket(context);
    // No HTTP fallback either: only the beacon can deliver.
    const page = await open(context, "&http=0");
    await page.evaluate(() => {
      for (let i = 0; i < 5; i++) window.analytics.track("beacon_event", { i });
    });
    await page.close({ runBeforeUnload: true });
    await until(() => count("beacon_event") === 5, 10000, "5 events from the beacon");
    await context.close();
  });

  it("drops the oldest events when the queue is full, and counts them", async () => {
    const context = await browser.newContext();
    // insightd out of reach (nothing listens on port 1), no HTTP fallback.
    const page = await open(context, "&maxEvents=100&http=0", "http://127.0.0.1:1");
    const stats = await page.evaluate(async () => {
      for (let i = 0; i < 1000; i++) window.analytics.track("full_event", { i });
      return window.analytics.stats();
    });
    assert.equal(stats.queued, 100);
    assert.equal(stats.dropped, 900);
    assert.equal(await page.evaluate(() => window.events.filter((e) => e.type === "dropped").length), 900);
    const persisted = () => page.evaluate(() => new Promise((resolve) => {
      const req = indexedDB.open("insightd");
      req.onsuccess = () => {
        const n = req.result.transaction("queue").objectStore("queue").count();
        n.onsuccess = () => resolve(n.result);
      };
    }));
    await until(async () => (await persisted()) === 100, 5000, "100 events in IndexedDB");
    await page.close();
    // A page of the same origin that reaches insightd: the newest 100 arrive.
    const next = await open(context, "&maxEvents=100");
    await until(() => count("full_event") === 100, 15000, "the 100 newest");
    const kept = rows(`SELECT json_extract(metadata, '$.i') AS i FROM "Event" WHERE event_type = 'full_event' ORDER BY 1`);
    assert.deepEqual(kept.map((r) => r.i), Array.from({ length: 100 }, (_, k) => 900 + k));
    await next.close();
    await context.close();
  });
});
