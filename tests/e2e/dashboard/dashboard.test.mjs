// The admin dashboard (SPEC §11) in a real browser: Debian's chromium driven by
// playwright-core, against a real all-in-one insightd (SQLite) whose analyzer is
// the fake OpenAI-compatible server in a process of its own. One browser, one
// page, the scenarios in order (each builds on the state the previous left):
//   1. anonymous → the login page; a wrong password shows the server's error;
//      signing in lands on Overview with the live stream connected
//   2. the tabs: arrow keys, the tab kept in the URL hash across a reload
//   3. events sent with the official socket.io-client show in the live stream
//      within 1 s of their ack (server strings shown as text, never markup)
//   4. Batches: the batch's detail, Seal, Analyze → the toast "Analysis
//      triggered successfully", a 409 as an error toast, the job in Jobs, its
//      insight in Insights
//   5. the analyzer failing: the breaker indicator turns red (OPEN), the job
//      lands in the Dead Letter Queue; the API recovers, Redrive → the insight;
//      Discard asks first
//   6. with the live stream refused: "disconnected", metrics and events by
//      polling; once it is back, live again
//   7. screenshots of every tab with real data (and the login page, and a
//      phone-width overview) in SCREENSHOT_DIR; no console errors, no CSP
//      violations, no request to any other host
//   8. Insights refresh every 30 s by themselves (on a fake clock)
//   9. Batches and Insights page with Load more
//  10. an archived batch: its detail says so with the sizes and shows its
//      events from the archive; "Restore events" puts them back
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { io } from "socket.io-client";
import { startServer, tempDir, cleanup, sqlite, sqliteRows } from "../ingest/harness.mjs";
import { startFakeOpenAI, openaiEnv, cli } from "../pipeline/harness.mjs";

const PASSWORD = "e2e dashboard password";
const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
const SHOTS = process.env.SCREENSHOT_DIR || join(tmpdir(), "insightd-dashboard-screenshots");
const DESKTOP = { width: 1280, height: 900 };

// Browser-reported errors that a scenario causes on purpose: the wrong password
// (401), the analysis requested while one is running (409), a server without
// Google sign-in's providers route (404, read as "password only").
const EXPECTED_ERRORS = [
  { status: 401, path: "/api/auth/login" },
  { status: 409, path: /\/api\/admin\/batches\/[^/]+\/analyze$/ },
  { status: 404, path: "/api/auth/providers" },
  { status: 503, path: "/api/admin/live/ticket" }, // stubbed below: the live stream down
];

function expectedError(msg) {
  const m = /Failed to load resource: the server responded with a status of (\d+)/.exec(msg.text);
  if (!m || !msg.url) return false;
  const path = new URL(msg.url).pathname;
  return EXPECTED_ERRORS.some((e) => e.status === Number(m[1]) && (typeof e.path === "string" ? e.path === path : e.path.test(path)));
}

describe("admin dashboard in a browser", () => {
  let dir;
  let fake;
  let server;
  let browser;
  let page;
  let socket;
  const consoleErrors = [];
  const foreignRequests = [];
  let openBatchId = null;

  const timings = [];

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    dir = tempDir();
    fake = await startFakeOpenAI("valid");
    server = await startServer({
      dir,
      env: {
        ADMIN_PASSWORD: PASSWORD,
        ...openaiEnv(fake),
        MAX_ATTEMPTS: "3",
        BREAKER_FAILURE_THRESHOLD: "2",
        BREAKER_COOLDOWN_MS: "3000",
        RETRY_BACKOFF_BASE_MS: "50",
        RETRY_BACKOFF_MAX_MS: "100",
        WORKER_POLL_INTERVAL_MS: "200",
        // WEB_DIR=<repo>/web/src tests the files there instead of the built-in ones.
        ...(process.env.WEB_DIR ? { WEB_DIR: process.env.WEB_DIR } : {}),
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
    const context = await browser.newContext({ viewport: DESKTOP });
    // CSP violations, reported by the page itself as well as by chromium.
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
      });
    });
    page = await context.newPage();
    page.setDefaultTimeout(15000);
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const entry = { text: msg.text(), url: msg.location().url };
      if (!expectedError(entry)) consoleErrors.push(entry);
    });
    page.on("pageerror", (err) => consoleErrors.push({ text: `pageerror: ${err.message}`, url: "" }));
    page.on("request", (req) => {
      const url = req.url();
      if (!url.startsWith(server.url) && !url.startsWith("data:") && !url.startsWith(server.url.replace("http", "ws"))) {
        foreignRequests.push(url);
      }
    });
    socket = io(server.url, { path: "/api/socket", transports: ["websocket"], reconnection: false });
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
  });

  after(async () => {
    if (timings.length) {
      console.log(`live stream: ack → row visible in ${timings.map((t) => `${t} ms`).join(", ")}`);
    }
    socket?.close();
    await browser?.close();
    if (server) await server.stop();
    await fake?.stop();
    if (dir) cleanup(dir);
  });

  // Toasts float over the content: dismissed before each picture.
  async function shot(name) {
    await page.evaluate(() => document.querySelectorAll(".toast").forEach((t) => t.remove()));
    await page.screenshot({ path: join(SHOTS, name), fullPage: true });
  }

  async function sendEvent(id, extra = {}) {
    const event = {
      eventId: id,
      eventType: extra.eventType ?? "page_view",
      userId: extra.userId ?? "user_e2e",
      sessionId: extra.sessionId ?? "session_e2e",
      timestamp: new Date().toISOString(),
      metadata: { page: extra.page ?? "/checkout" },
    };
    const ack = await socket.timeout(10000).emitWithAck("user:event", event);
    assert.equal(ack.status, "ok", JSON.stringify(ack));
    return ack;
  }

  async function openTab(name) {
    await page.click(`#tab-${name}`);
    await page.locator(`#tab-${name}[aria-selected="true"]`).waitFor();
    await page.locator(`#panel-${name}`).waitFor({ state: "visible" });
  }

  it("sends anonymous visitors to sign in, shows a wrong password, lands on Overview", async () => {
    // With Google sign-in offered (the answer stubbed here), the page links to it.
    await page.route("**/api/auth/providers", (route) =>
      route.fulfill({ status: 200, contentType: "application/json", body: '{"password":true,"google":true}' }));
    await page.goto(`${server.url}/admin/analytics`);
    assert.equal(new URL(page.url()).pathname, "/admin/login");
    assert.equal(new URL(page.url()).searchParams.get("next"), "/admin/analytics");
    const google = page.getByRole("link", { name: "Sign in with Google" });
    await google.waitFor();
    assert.equal(await google.getAttribute("href"), "/api/auth/google?next=%2Fadmin%2Fanalytics");
    await page.unroute("**/api/auth/providers");
    await page.reload();
    await page.locator("#login-password").waitFor();
    await shot("login.png");

    await page.fill("#login-id", "admin");
    await page.fill("#login-password", "not the password");
    await page.click("#login-submit");
    const error = page.locator("#login-error");
    await error.waitFor({ state: "visible" });
    assert.match(await error.textContent(), /wrong id or password/);
    assert.equal(await error.getAttribute("role"), "alert");

    await page.fill("#login-password", PASSWORD);
    await Promise.all([page.waitForURL(`${server.url}/admin/analytics`), page.click("#login-submit")]);
    await page.locator('#tab-overview[aria-selected="true"]').waitFor();
    await page.locator("#whoami", { hasText: "admin" }).waitFor();
    await page.locator('#live-indicator[data-state="live"]').waitFor();
    await page.locator('#breaker[data-state="CLOSED"]').waitFor();
    assert.match(await page.locator("#breaker").getAttribute("aria-label"), /Circuit breaker CLOSED/);
  });

  it("moves between tabs with the arrow keys and keeps the tab in the URL", async () => {
    await page.focus("#tab-overview");
    await page.keyboard.press("ArrowRight");
    await page.locator('#tab-batches[aria-selected="true"]').waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.id), "tab-batches");
    assert.equal(new URL(page.url()).hash, "#batches");
    await page.keyboard.press("End");
    await page.locator('#tab-insights[aria-selected="true"]').waitFor();
    await page.keyboard.press("ArrowLeft");
    await page.locator('#tab-jobs[aria-selected="true"]').waitFor();
    assert.equal(await page.locator("#panel-batches").isHidden(), true);

    await page.reload();
    await page.locator('#tab-jobs[aria-selected="true"]').waitFor();
    await page.locator("#panel-jobs").waitFor({ state: "visible" });
    assert.equal(await page.locator("#tab-jobs").getAttribute("tabindex"), "0");
    assert.equal(await page.locator("#tab-overview").getAttribute("tabindex"), "-1");
    await openTab("overview");
    assert.equal(new URL(page.url()).hash, "#overview");
  });

  it("shows each event sent over Socket.IO in the live stream within 1 s", async () => {
    await page.locator('#live-indicator[data-state="live"]').waitFor();
    // When each row appears, by the page's clock (the same machine's clock).
    await page.evaluate(() => {
      window.__rowSeen = {};
      new MutationObserver((records) => {
        for (const r of records) {
          for (const n of r.addedNodes) {
            if (n.dataset && n.dataset.eventId) window.__rowSeen[n.dataset.eventId] = Date.now();
          }
        }
      }).observe(document.getElementById("live-list"), { childList: true });
    });
    const types = ["page_view", "add_to_cart", "click", "checkout", "page_view"];
    for (let i = 0; i < types.length; i++) {
      const id = `live-${Date.now()}-${i}`;
      const ack = await sendEvent(id, { eventType: types[i], userId: `user_${i}` });
      const ackAt = Date.now();
      openBatchId = ack.batchId;
      const row = page.locator(`#live-list li[data-event-id="${id}"]`);
      await row.waitFor({ state: "visible", timeout: 5000 });
      const seenAt = await page.evaluate((eid) => window.__rowSeen[eid], id);
      assert.ok(seenAt, `row for ${id} was not seen being added`);
      const latency = Math.max(0, seenAt - ackAt);
      timings.push(latency);
      assert.ok(latency < 1000, `event ${id} appeared ${latency} ms after its ack`);
      const text = await row.textContent();
      assert.ok(text.includes(types[i]) && text.includes(`user_${i}`), text);
      // Newest first.
      assert.equal(await page.locator("#live-list li").first().getAttribute("data-event-id"), id);
      await new Promise((r) => setTimeout(r, 150));
    }
    // A few more for the charts and the lists; one whose user id is markup,
    // which must show as text.
    for (let i = 0; i < 6; i++) await sendEvent(`bulk-${Date.now()}-${i}`, { eventType: ["click", "page_view", "search"][i % 3], userId: `user_${i % 4}` });
    const markup = '<img src=x id="injected"><b>bold</b>';
    const xssId = `xss-${Date.now()}`;
    await sendEvent(xssId, { eventType: "click", userId: markup });
    const xssRow = page.locator(`#live-list li[data-event-id="${xssId}"]`);
    await xssRow.waitFor();
    assert.ok((await xssRow.textContent()).includes(markup));
    assert.equal(await page.locator("#injected, #live-list b").count(), 0);
    await page.locator('.card[data-metric="events.total"] .card-value', { hasText: "12" }).waitFor();
  });

  it("seals and analyzes a batch from Batches; the job and the insight follow", async () => {
    assert.ok(openBatchId, "the live-stream test made a batch");
    await openTab("batches");
    const row = page.locator(`#batch-rows tr[data-batch-id="${openBatchId}"]`);
    await row.waitFor();
    assert.equal(await row.getAttribute("data-status"), "OPEN");
    assert.match(await row.locator("td").nth(2).textContent(), /^12$/);
    // The batch's detail, with its events, in a dialog.
    await row.locator("[data-batch-link]").click();
    const detail = page.locator("#batch-dialog");
    await detail.waitFor({ state: "visible" });
    await page.locator("#batch-dialog-events tr").nth(11).waitFor();
    assert.equal(await page.locator("#batch-dialog-events tr").count(), 12);
    await page.keyboard.press("Escape");
    await detail.waitFor({ state: "hidden" });

    // Seal: the batch's own job runs at once (the fake answers).
    const [sealed] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/admin/batches/${openBatchId}/seal`)),
      row.getByRole("button", { name: "Seal" }).click(),
    ]);
    assert.equal(sealed.status(), 200);
    await page.locator(`#batch-rows tr[data-batch-id="${openBatchId}"][data-status="ANALYZED"]`).waitFor({ timeout: 30000 });

    // Analyze by hand, with the analyzer slow, then again while it runs: 409.
    await fake.answer("slow");
    const [analyzed] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/admin/batches/${openBatchId}/analyze`)),
      row.getByRole("button", { name: "Analyze" }).click(),
    ]);
    assert.equal(analyzed.status(), 202);
    const jobId = (await analyzed.json()).job.jobId;
    const toast = page.locator(".toast").getByText("Analysis triggered successfully", { exact: true });
    await toast.waitFor();
    const toastEl = page.locator(".toast", { hasText: "Analysis triggered successfully" });
    assert.equal(await toastEl.getAttribute("role"), "status");
    assert.equal(await toastEl.getAttribute("aria-live"), "polite");
    assert.equal((await toastEl.textContent()).trim(), "Analysis triggered successfully");

    await row.locator('button[data-action="analyze"]:not([disabled])').waitFor();
    const [conflict] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/admin/batches/${openBatchId}/analyze`)),
      row.getByRole("button", { name: "Analyze" }).click(),
    ]);
    assert.equal(conflict.status(), 409);
    const message = (await conflict.json()).error.message;
    await page.locator('.toast-error[role="alert"]', { hasText: message }).waitFor();
    await fake.answer("valid");

    // The job in Jobs, until it succeeds.
    await openTab("jobs");
    const jobRow = page.locator(`#job-rows tr[data-job-id="${jobId}"]`);
    await jobRow.waitFor();
    assert.match(await jobRow.textContent(), /manual/);
    await page.locator(`#job-rows tr[data-job-id="${jobId}"][data-status="SUCCESS"]`).waitFor({ timeout: 30000 });
    assert.match(await jobRow.locator("td").nth(4).textContent(), /^1\/3$/);
    assert.match(await jobRow.locator("td").nth(5).textContent(), /\d+(\.\d+)? (ms|s)/);

    // Its insight in Insights.
    await openTab("insights");
    const card = page.locator(`#insight-list li[data-job-id="${jobId}"]`);
    await card.waitFor({ timeout: 30000 });
    assert.match(await card.locator(".insight-summary").textContent(), /\S/);
    assert.match(await card.locator(".confidence-value").textContent(), /^\d{1,3}%$/);
    assert.match(await card.locator(".badge.analyzer").textContent(), /openai/);
    // Newest first: the manual run's insight is above the automatic one.
    assert.equal(await page.locator("#insight-list > li").first().getAttribute("data-job-id"), jobId);
    assert.equal(await page.locator("#insight-list > li").count(), 2);
  });

  it("shows the breaker OPEN and the dead letter, and redrives it once the API recovers", async () => {
    await fake.answer("unauthorized");
    let batchId = null;
    for (let i = 0; i < 4; i++) batchId = (await sendEvent(`fail-${Date.now()}-${i}`, { eventType: "click" })).batchId;
    assert.notEqual(batchId, openBatchId);

    await openTab("batches");
    const row = page.locator(`#batch-rows tr[data-batch-id="${batchId}"]`);
    await row.waitFor();
    const [sealed] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/admin/batches/${batchId}/seal`)),
      row.getByRole("button", { name: "Seal" }).click(),
    ]);
    assert.equal(sealed.status(), 200);
    const deadJobId = (await sealed.json()).jobId;

    await openTab("overview");
    const breaker = page.locator('#breaker[data-state="OPEN"]');
    await breaker.waitFor({ timeout: 30000 });
    assert.match(await breaker.getAttribute("aria-label"), /Circuit breaker OPEN/);
    assert.match(await page.locator("#breaker-failures").textContent(), /^\d+ failures$/);
    const color = await page.locator("#breaker .breaker-light").evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(color, "rgb(220, 38, 38)", "the OPEN light is red");
    await shot("overview-breaker-open.png");

    await openTab("jobs");
    const entry = page.locator(`#dlq-list li[data-job-id="${deadJobId}"]`);
    await entry.waitFor({ timeout: 30000 });
    await page.locator(`#job-rows tr[data-job-id="${deadJobId}"][data-status="DEAD"]`).waitFor();
    assert.match(await entry.locator(".dlq-attempts").textContent(), /^3 attempts$/);
    assert.match(await entry.locator(".dlq-error").textContent(), /401/);
    await entry.locator("details summary").click();
    assert.equal(await entry.locator(".error-list li").count(), 3);
    await shot("jobs-dead-letter.png");

    // The API recovers; redrive.
    await fake.answer("valid");
    const [redriven] = await Promise.all([
      page.waitForResponse((r) => r.url().includes("/api/admin/dlq/") && r.url().endsWith("/retry")),
      entry.getByRole("button", { name: /Redrive/ }).click(),
    ]);
    assert.equal(redriven.status(), 202);
    const newJobId = (await redriven.json()).job.jobId;
    await page.locator(`#dlq-list li[data-job-id="${deadJobId}"][data-redriven="true"]`).waitFor();
    await page.locator(`#job-rows tr[data-job-id="${newJobId}"][data-status="SUCCESS"]`).waitFor({ timeout: 30000 });

    await openTab("insights");
    await page.locator(`#insight-list li[data-job-id="${newJobId}"]`).waitFor({ timeout: 30000 });
    await openTab("overview");
    await page.locator('#breaker[data-state="CLOSED"]').waitFor({ timeout: 15000 });

    // Discard asks first, in the page.
    await openTab("jobs");
    const discard = entry.getByRole("button", { name: /Discard/ });
    await discard.click();
    const dialog = page.locator("#confirm-dialog");
    await dialog.waitFor({ state: "visible" });
    await page.click("#confirm-cancel");
    await dialog.waitFor({ state: "hidden" });
    assert.equal(await entry.count(), 1);
    await discard.click();
    await dialog.waitFor({ state: "visible" });
    const [deleted] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "DELETE"),
      page.click("#confirm-ok"),
    ]);
    assert.equal(deleted.status(), 200);
    await entry.waitFor({ state: "detached" });
    await page.locator("#dlq-empty").waitFor({ state: "visible" });
  });

  it("polls while the live stream is down and reconnects when it is back", async () => {
    // No ticket, so the "/admin" namespace refuses the page.
    await page.route("**/api/admin/live/ticket", (route) =>
      route.fulfill({ status: 503, contentType: "application/json", body: '{"error":{"code":"unavailable","message":"stub"}}' }));
    await page.reload();
    await openTab("overview");
    await page.locator('#live-indicator[data-state="disconnected"]').waitFor();
    assert.match(await page.locator("#live-indicator").textContent(), /live stream disconnected/i);
    const before = Number((await page.locator('.card[data-metric="events.total"] .card-value').textContent()).replace(/\D/g, ""));
    const id = `polled-${Date.now()}`;
    await sendEvent(id, { eventType: "search" });
    // The metrics poll (every 5 s) sees it, and brings the event along.
    await page.locator('.card[data-metric="events.total"] .card-value', { hasText: String(before + 1) }).waitFor({ timeout: 8000 });
    await page.locator(`#live-list li[data-event-id="${id}"]`).waitFor({ timeout: 8000 });
    await page.unroute("**/api/admin/live/ticket");
    await page.locator('#live-indicator[data-state="live"]').waitFor({ timeout: 20000 });
    const id2 = `relive-${Date.now()}`;
    await sendEvent(id2);
    await page.locator(`#live-list li[data-event-id="${id2}"]`).waitFor({ timeout: 1500 });
  });

  it("looks right on every tab, on a phone too, with no console errors", async () => {
    // One more open batch, so that Batches shows every kind of row.
    for (let i = 0; i < 3; i++) await sendEvent(`shot-${Date.now()}-${i}`, { eventType: "page_view", userId: `user_${i}` });
    await openTab("overview");
    await page.locator("#chart-events canvas").waitFor();
    await page.locator("#chart-durations canvas").waitFor();
    await page.locator("#overview-insights li").first().waitFor();
    await page.waitForTimeout(300);
    await shot("overview.png");
    await openTab("batches");
    await page.locator('#batch-rows tr[data-status="OPEN"]').waitFor();
    await shot("batches.png");
    await openTab("jobs");
    await page.locator("#job-rows tr").first().waitFor();
    await shot("jobs.png");
    await openTab("insights");
    await page.locator("#insight-list > li").first().waitFor();
    await shot("insights.png");

    await page.setViewportSize({ width: 390, height: 844 });
    await openTab("overview");
    await page.waitForTimeout(300);
    // Nothing wider than the screen.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone's screen`);
    await shot("overview-mobile.png");
    await page.setViewportSize(DESKTOP);

    // Sign out ends the session.
    await Promise.all([page.waitForURL(/\/admin\/login/), page.click("#sign-out")]);
    await page.goto(`${server.url}/admin/analytics`);
    assert.equal(new URL(page.url()).pathname, "/admin/login");

    // After signing in the page goes to `next` only when it is a local path.
    await page.goto(`${server.url}/admin/login?next=${encodeURIComponent("//evil.example/x")}`);
    await page.fill("#login-password", PASSWORD);
    await Promise.all([page.waitForURL(`${server.url}/admin/analytics`), page.click("#login-submit")]);
    await page.goto(`${server.url}/admin/login?next=${encodeURIComponent("/admin/analytics#insights")}`);
    await page.fill("#login-password", PASSWORD);
    await Promise.all([page.waitForURL(`${server.url}/admin/analytics#insights`), page.click("#login-submit")]);
    await page.locator('#tab-insights[aria-selected="true"]').waitFor();

    assert.deepEqual(consoleErrors, [], "console errors or CSP violations");
    assert.deepEqual(foreignRequests, [], "requests to other hosts");
  });

  it("refreshes Insights every 30 s on its own", async () => {
    // A page of its own on a fake clock, with the live stream and the metrics
    // refused: nothing but the 30-second timer can bring a new insight in.
    const p = await page.context().newPage();
    try {
      await p.clock.install();
      const refuse = (route) => route.fulfill({ status: 503, contentType: "application/json", body: '{"error":{"code":"unavailable","message":"stub"}}' });
      await p.route("**/api/admin/live/ticket", refuse);
      await p.route("**/api/admin/metrics", refuse);
      await p.goto(`${server.url}/admin/analytics#insights`);
      await p.locator("#insight-list > li").first().waitFor();

      const { csrfToken } = await (await p.request.get(`${server.url}/api/auth/session`)).json();
      const res = await p.request.post(`${server.url}/api/admin/batches/${openBatchId}/analyze`, { headers: { "x-csrf-token": csrfToken } });
      assert.equal(res.status(), 202, await res.text());
      const jobId = (await res.json()).job.jobId;
      const stored = async () => {
        const list = await (await p.request.get(`${server.url}/api/insights?limit=5`)).json();
        return list.insights.some((i) => i.jobId === jobId);
      };
      const deadline = Date.now() + 20000;
      while (!(await stored())) {
        assert.ok(Date.now() < deadline, "the manual job's insight was stored");
        await new Promise((r) => setTimeout(r, 100));
      }
      const card = p.locator(`#insight-list li[data-job-id="${jobId}"]`);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(await card.count(), 0, "not shown before the refresh is due");
      await p.clock.runFor(30000);
      await card.waitFor({ timeout: 5000 });
    } finally {
      await p.close();
    }
  });

  it("pages Batches and Insights with Load more", async () => {
    // 26 more batches, each sealed by hand (and analyzed by the workers): more
    // than one page of batches (25) and of insights (20).
    const { csrfToken } = await (await page.request.get(`${server.url}/api/auth/session`)).json();
    for (let i = 0; i < 26; i++) {
      const { batchId } = await sendEvent(`page-${Date.now()}-${i}`);
      const res = await page.request.post(`${server.url}/api/admin/batches/${batchId}/seal`, { headers: { "x-csrf-token": csrfToken } });
      assert.equal(res.status(), 200, await res.text());
    }
    const deadline = Date.now() + 60000;
    while ((await (await page.request.get(`${server.url}/api/insights?limit=500`)).json()).insights.length < 26) {
      assert.ok(Date.now() < deadline, "the sealed batches were analyzed");
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.reload();

    await openTab("batches");
    const batchRows = page.locator("#batch-rows tr");
    await page.locator("#batch-more").waitFor({ state: "visible" });
    assert.equal(await batchRows.count(), 25);
    await page.click("#batch-more");
    await page.waitForFunction(() => document.querySelectorAll("#batch-rows tr").length > 25);
    const batchIds = await batchRows.evaluateAll((rows) => rows.map((r) => r.dataset.batchId));
    assert.equal(new Set(batchIds).size, batchIds.length, "no batch twice");

    await openTab("insights");
    const cards = page.locator("#insight-list > li");
    await page.locator("#insight-more").waitFor({ state: "visible" });
    const first = await cards.count();
    assert.ok(first >= 20, `a first page of insights (${first})`);
    await page.click("#insight-more");
    await page.waitForFunction((n) => document.querySelectorAll("#insight-list > li").length > n, first);
    const insightIds = await cards.evaluateAll((items) => items.map((li) => li.dataset.insightId));
    assert.equal(new Set(insightIds).size, insightIds.length, "no insight twice");
  });

  it("shows an archived batch's events from the archive, and restores them", async () => {
    const db = join(dir, "data", "insightd.db");
    const [{ batch_id: id, n }] = sqliteRows(db,
      `SELECT batch_id, event_count AS n FROM "Batch" WHERE status = 'ANALYZED' ORDER BY created_at DESC LIMIT 1`);
    sqlite(db, `UPDATE "Batch" SET created_at = '2020-01-01T00:00:00.000Z', sealed_at = '2020-01-01T00:00:00.000Z'
                WHERE batch_id = '${id}'`);
    // `insightd archive` beside the running server (whose own archiver may take it first).
    const deadline = Date.now() + 30000;
    while (sqliteRows(db, `SELECT status FROM "Batch" WHERE batch_id = '${id}'`)[0].status !== "ARCHIVED") {
      assert.ok(Date.now() < deadline, "the batch was archived");
      const r = cli(dir, { ARCHIVE_AFTER_DAYS: "30" }, ["archive"]);
      if (r.code !== 0) await new Promise((res) => setTimeout(res, 500));
    }
    await openTab("batches");
    await page.selectOption("#batch-filter", "ARCHIVED");
    const row = page.locator(`#batch-rows tr[data-batch-id="${id}"]`);
    await row.waitFor();
    await row.locator("[data-batch-link]").click();
    const detail = page.locator("#batch-dialog");
    await detail.waitFor({ state: "visible" });
    await page.locator("#batch-restore").waitFor();
    const facts = await page.locator("#batch-dialog-facts").textContent();
    assert.match(facts, /Archived/);
    assert.match(facts, /stored as .*events read from the archive/);
    await page.locator("#batch-dialog-events tr").nth(n - 1).waitFor();
    assert.equal(await page.locator("#batch-dialog-events tr").count(), n);

    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/api/admin/batches/${id}/restore`)),
      page.click("#batch-restore"),
    ]);
    assert.equal(res.status(), 200, await res.text());
    await page.locator(".toast", { hasText: "Batch restored" }).first().waitFor();
    await page.locator("#batch-dialog-facts", { hasText: "Restored" }).waitFor();
    assert.equal(sqliteRows(db, `SELECT COUNT(*) AS c FROM "Event" WHERE batch_id = '${id}'`)[0].c, n);
    await page.keyboard.press("Escape");
    await detail.waitFor({ state: "hidden" });
    await page.selectOption("#batch-filter", "");
  });
});
