// The insightd admin dashboard (SPEC §11): plain JavaScript, no framework, no
// build step. Every server string reaches the page through textContent or an
// attribute (never innerHTML), and nothing is loaded from outside this server:
// the page runs under a strict Content-Security-Policy (script-src 'self').
//
// Data: the admin REST API (/api/admin/..., /api/insights) with the session
// cookie and X-CSRF-Token on state changes, and the live stream: Socket.IO
// namespace "/admin" at path /api/socket, authorized by a short-lived ticket
// from POST /api/admin/live/ticket, which emits `events` (new events, newest
// last) and `metrics` (the /api/admin/metrics object).
"use strict";

(function () {
  const TABS = ["overview", "batches", "jobs", "insights"];
  const LIVE_ROWS = 50;
  const BATCH_PAGE = 25;
  const JOB_PAGE = 50;
  const INSIGHT_PAGE = 20;
  const METRICS_POLL_MS = 5000;
  const INSIGHTS_REFRESH_MS = 30000;
  const JOBS_REFRESH_MS = 5000;
  const CHART_HEIGHT = 220;

  const state = {
    csrf: null,
    tab: null,
    metrics: null,
    metricsSignature: null,
    socket: null,
    liveState: "connecting",
    metricsPoll: null,
    reconnectTimer: null,
    reconnectDelay: 1000,
    seenEvents: new Set(),
    perMinute: null, // {xs: [sec...], ys: [count...]}
    charts: { events: null, durations: null },
    durations: null, // [xs, ys]
    batches: { filter: "", cursor: null, items: [], loading: false },
    jobs: { filter: "", limit: JOB_PAGE, loading: false },
    insights: { items: [], cursor: null, loading: false, updatedAt: null },
  };

  // ---------------------------------------------------------------------------
  // DOM helpers. Children that are strings become text nodes.

  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [key, value] of Object.entries(attrs)) {
        if (value === undefined || value === null || value === false) continue;
        if (key === "class") el.className = value;
        else if (key === "text") el.textContent = value;
        else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
        else if (value === true) el.setAttribute(key, "");
        else el.setAttribute(key, String(value));
      }
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) append(el, child);
      else if (child instanceof Node) el.appendChild(child);
      else el.appendChild(document.createTextNode(String(child)));
    }
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  // ---------------------------------------------------------------------------
  // Formatting.

  const numberFormat = new Intl.NumberFormat();

  function fmtNum(n) {
    return typeof n === "number" && Number.isFinite(n) ? numberFormat.format(n) : "—";
  }

  function fmtBytes(n) {
    if (typeof n !== "number" || !Number.isFinite(n)) return "—";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  }

  function fmtDuration(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    return fmtAge(ms);
  }

  function fmtAge(ms) {
    if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min`;
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return m % 60 ? `${hrs} h ${m % 60} min` : `${hrs} h`;
    return `${Math.floor(hrs / 24)} d`;
  }

  function parseTime(iso) {
    const t = typeof iso === "string" ? Date.parse(iso) : NaN;
    return Number.isFinite(t) ? t : null;
  }

  function fmtAbsolute(iso) {
    const t = parseTime(iso);
    if (t === null) return "—";
    return new Date(t).toLocaleString(undefined, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
  }

  function fmtClock(iso) {
    const t = parseTime(iso);
    if (t === null) return "—";
    return new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function fmtRelative(iso) {
    const t = parseTime(iso);
    if (t === null) return "—";
    const d = Date.now() - t;
    if (Math.abs(d) < 2000) return "just now";
    return d > 0 ? `${fmtAge(d)} ago` : `in ${fmtAge(-d)}`;
  }

  // A <time> showing "3 min ago", kept current by the ticker below; the
  // absolute time is its tooltip.
  function timeRel(iso) {
    if (parseTime(iso) === null) return h("span", { class: "muted" }, "—");
    return h("time", { datetime: iso, title: fmtAbsolute(iso), class: "rel" }, fmtRelative(iso));
  }

  function tickRelativeTimes() {
    for (const el of document.querySelectorAll("time.rel")) el.textContent = fmtRelative(el.getAttribute("datetime"));
    for (const el of document.querySelectorAll("time.age")) {
      const t = parseTime(el.getAttribute("datetime"));
      if (t !== null) el.textContent = fmtAge(Date.now() - t);
    }
  }

  function shortId(id) {
    if (typeof id !== "string") return "—";
    return id.length > 18 ? `${id.slice(0, 10)}…${id.slice(-6)}` : id;
  }

  function statusBadge(status) {
    const s = typeof status === "string" ? status : "UNKNOWN";
    return h("span", { class: `badge status status-${s.toLowerCase().replace(/[^a-z_]/g, "")}`, "data-status": s }, s);
  }

  function str(v) {
    return typeof v === "string" ? v : v === null || v === undefined ? "" : String(v);
  }

  // ---------------------------------------------------------------------------
  // The REST API.

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  let redirecting = false;
  function toLogin() {
    if (redirecting) return;
    redirecting = true;
    const here = window.location.pathname + window.location.hash;
    window.location.assign(`/admin/login?next=${encodeURIComponent(here)}`);
  }

  async function api(path, { method = "GET", body } = {}) {
    const headers = { accept: "application/json" };
    if (method !== "GET" && method !== "HEAD" && state.csrf) headers["x-csrf-token"] = state.csrf;
    if (body !== undefined) headers["content-type"] = "application/json";
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        credentials: "same-origin",
        cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "Cannot reach the server.");
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.status === 401) {
      toLogin();
      throw new ApiError(401, "unauthorized", "Signed out.");
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : {};
      throw new ApiError(res.status, str(err.code) || "error", str(err.message) || `Request failed (HTTP ${res.status}).`);
    }
    return data;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
    const s = q.toString();
    return s ? `?${s}` : "";
  }

  // ---------------------------------------------------------------------------
  // Toasts and dialogs.

  function toast(text, kind = "success") {
    const box = $("toasts");
    const el = h("div", {
      class: `toast toast-${kind}`,
      role: kind === "error" ? "alert" : "status",
      "aria-live": kind === "error" ? "assertive" : "polite",
      "data-kind": kind,
    }, text);
    el.addEventListener("click", () => el.remove());
    box.appendChild(el);
    while (box.children.length > 4) box.firstElementChild.remove();
    setTimeout(() => el.remove(), kind === "error" ? 10000 : 6000);
  }

  function confirmDialog({ title, text, ok }) {
    const dialog = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = ok;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      $("confirm-cancel").focus();
    });
  }

  function batchLink(batchId) {
    if (typeof batchId !== "string" || !batchId) return h("span", { class: "muted" }, "—");
    return h("button", {
      type: "button",
      class: "linklike mono",
      title: `Show batch ${batchId}`,
      "data-batch-link": batchId,
      onclick: () => openBatch(batchId),
    }, shortId(batchId));
  }

  async function openBatch(batchId) {
    const dialog = $("batch-dialog");
    $("batch-dialog-title").textContent = `Batch ${batchId}`;
    const facts = $("batch-dialog-facts");
    const rows = $("batch-dialog-events");
    clear(facts);
    clear(rows);
    $("batch-dialog-count").textContent = "";
    if (!dialog.open) dialog.showModal();
    let data;
    try {
      data = await api(`/api/admin/batches/${encodeURIComponent(batchId)}?eventLimit=100`);
    } catch (e) {
      facts.appendChild(h("p", { class: "form-error" }, e.message));
      return;
    }
    const b = data.batch || {};
    const fact = (label, value) => [h("dt", null, label), h("dd", null, value)];
    append(facts, [
      fact("Status", statusBadge(b.status)),
      fact("Events", fmtNum(b.eventCount)),
      fact("Created", timeRel(b.createdAt)),
      fact("Sealed", b.sealedAt ? [timeRel(b.sealedAt), b.sealReason ? ` (${str(b.sealReason)})` : ""] : "—"),
      fact("Analyzed", b.analyzedAt ? timeRel(b.analyzedAt) : "—"),
    ]);
    const a = data.archive;
    if (a && a.archived && a.eventsDeletedAt) {
      append(facts, [
        fact("Archived", [timeRel(a.archivedAt), ` (${fmtBytes(a.rawBytes)})`]),
        fact("Events deleted", [timeRel(a.eventsDeletedAt), " (ARCHIVE_DELETE_AFTER_DAYS; the insights stay)"]),
      ]);
    } else if (a && a.archived) {
      append(facts, [
        fact("Archived", [timeRel(a.archivedAt),
          ` (${fmtBytes(a.rawBytes)} stored as ${fmtBytes(a.storedBytes)}; events read from the archive)`]),
        fact("", h("button", {
          type: "button",
          class: "btn",
          id: "batch-restore",
          onclick: (ev) => restoreBatch(batchId, ev.currentTarget),
        }, "Restore events")),
      ]);
    } else if (a && a.restoredAt) {
      append(facts, fact("Restored", [timeRel(a.restoredAt), ` (archived ${fmtAbsolute(a.archivedAt)})`]));
    }
    if (data.eventsError) facts.appendChild(h("p", { class: "form-error", role: "alert" }, str(data.eventsError)));
    const events = Array.isArray(data.events) ? data.events : [];
    $("batch-dialog-count").textContent = `(${events.length}${events.length < (b.eventCount || 0) ? ` of ${fmtNum(b.eventCount)}` : ""})`;
    for (const e of events) {
      rows.appendChild(h("tr", null,
        h("td", null, h("span", { class: "badge type" }, str(e.eventType))),
        h("td", { class: "mono" }, str(e.userId) || "—"),
        h("td", { class: "mono" }, str(e.sessionId) || "—"),
        h("td", null, h("time", { datetime: str(e.timestamp), title: fmtAbsolute(e.timestamp) }, fmtClock(e.timestamp))),
        h("td", { class: "mono small clamp" }, e.metadata ? JSON.stringify(e.metadata) : "—")));
    }
  }

  // ---------------------------------------------------------------------------
  // Tabs: real buttons, arrow keys, the tab in the URL hash.

  const tabButtons = () => TABS.map((t) => $(`tab-${t}`));

  function tabFromHash() {
    const name = window.location.hash.replace(/^#/, "");
    return TABS.includes(name) ? name : null;
  }

  function selectTab(name, { focus = false } = {}) {
    if (!TABS.includes(name)) name = "overview";
    for (const t of TABS) {
      const button = $(`tab-${t}`);
      const on = t === name;
      button.setAttribute("aria-selected", on ? "true" : "false");
      button.tabIndex = on ? 0 : -1;
      $(`panel-${t}`).hidden = !on;
    }
    if (focus) $(`tab-${name}`).focus();
    const changed = state.tab !== name;
    state.tab = name;
    document.title = `${$(`tab-${name}`).textContent} · insightd`;
    if (changed) onShow(name);
  }

  function goTab(name, opts) {
    if (window.location.hash !== `#${name}`) {
      history.pushState(null, "", `#${name}`);
    }
    selectTab(name, opts);
  }

  function bindTabs() {
    for (const button of tabButtons()) {
      button.addEventListener("click", () => goTab(button.dataset.tab));
    }
    document.querySelector('[role="tablist"]').addEventListener("keydown", (ev) => {
      const i = TABS.indexOf(state.tab);
      let next = null;
      if (ev.key === "ArrowRight" || ev.key === "ArrowDown") next = TABS[(i + 1) % TABS.length];
      else if (ev.key === "ArrowLeft" || ev.key === "ArrowUp") next = TABS[(i + TABS.length - 1) % TABS.length];
      else if (ev.key === "Home") next = TABS[0];
      else if (ev.key === "End") next = TABS[TABS.length - 1];
      if (next) {
        ev.preventDefault();
        goTab(next, { focus: true });
      }
    });
    window.addEventListener("hashchange", () => {
      const t = tabFromHash();
      if (t) selectTab(t);
    });
    window.addEventListener("popstate", () => selectTab(tabFromHash() || "overview"));
    // The skip link moves focus without touching the hash (which holds the tab).
    document.querySelector(".skip-link").addEventListener("click", (ev) => {
      ev.preventDefault();
      $("main").focus();
    });
  }

  function onShow(name) {
    if (name === "overview") {
      ensureCharts();
      resizeCharts();
    } else if (name === "batches") loadBatches(true);
    else if (name === "jobs") loadJobsTab();
    else if (name === "insights") loadInsights(false);
  }

  // ---------------------------------------------------------------------------
  // Metrics and the circuit breaker.

  function pick(obj, path) {
    let v = obj;
    for (const key of path.split(".")) {
      if (v === null || typeof v !== "object") return undefined;
      v = v[key];
    }
    return v;
  }

  function applyMetrics(m) {
    if (!m || typeof m !== "object") return;
    state.metrics = m;
    for (const card of document.querySelectorAll(".card[data-metric]")) {
      const v = pick(m, card.dataset.metric);
      const out = card.querySelector(".card-value");
      let text;
      if (card.dataset.format === "age") text = v === null || v === undefined ? "none" : fmtAge(v);
      else text = fmtNum(v);
      if (out.textContent !== text) {
        const wasSet = out.textContent !== "—";
        out.textContent = text;
        // A short highlight of a change seen on screen.
        if (wasSet && state.tab === "overview") {
          card.classList.remove("bump");
          void card.offsetWidth; // restart the animation
          card.classList.add("bump");
        }
      }
    }
    const dead = pick(m, "jobs.dead");
    const dlq = pick(m, "dead_letter_queue.waiting");
    document.querySelector('.card[data-metric="jobs.dead"]').classList.toggle("warn", typeof dead === "number" && dead > 0);
    document.querySelector('.card[data-metric="dead_letter_queue.waiting"]').classList.toggle("warn", typeof dlq === "number" && dlq > 0);
    renderBreaker(m.circuit_breaker || {});
    const updated = $("metrics-updated");
    clear(updated);
    updated.appendChild(timeRel(str(m.generatedAt) || new Date().toISOString()));

    const j = m.jobs || {};
    const signature = JSON.stringify([{ pending: j.pending, running: j.running, success: j.success, dead: j.dead }, m.batches, m.dead_letter_queue]);
    if (signature !== state.metricsSignature) {
      const first = state.metricsSignature === null;
      const successChanged = !first && pick(JSON.parse(state.metricsSignature)[0] || {}, "success") !== pick(m, "jobs.success");
      state.metricsSignature = signature;
      if (!first) {
        scheduleDataRefresh();
        if (successChanged) loadDurations();
      }
    }
  }

  function renderBreaker(cb) {
    const el = $("breaker");
    const s = ["CLOSED", "HALF_OPEN", "OPEN"].includes(cb.state) ? cb.state : "UNKNOWN";
    el.dataset.state = s;
    $("breaker-state").textContent = s === "HALF_OPEN" ? "HALF-OPEN" : s;
    const failures = typeof cb.failureCount === "number" ? cb.failureCount : null;
    $("breaker-failures").textContent = failures === null ? "—" : `${failures} failure${failures === 1 ? "" : "s"}`;
    const changed = $("breaker-changed");
    clear(changed);
    changed.appendChild(timeRel(str(cb.changedAt)));
    const until = $("breaker-open-until");
    if (s === "OPEN" && parseTime(cb.openUntil) !== null) {
      until.textContent = `Probing again at ${fmtClock(cb.openUntil)}`;
      until.hidden = false;
    } else until.hidden = true;
    const meaning = { CLOSED: "healthy", HALF_OPEN: "testing recovery", OPEN: "AI API calls paused", UNKNOWN: "unknown" }[s];
    el.setAttribute("aria-label", `Circuit breaker ${s} (${meaning}), ${failures === null ? "unknown" : failures} failures, changed ${fmtAbsolute(cb.changedAt)}`);
    el.title = `State changed at ${fmtAbsolute(cb.changedAt)}`;
  }

  async function refreshMetrics() {
    try {
      applyMetrics(await api("/api/admin/metrics"));
    } catch {
      /* shown as stale; the next poll or push retries */
    }
  }

  // While the live stream is down: the metrics, the recent events and (when
  // events came) the per-minute chart, every 5 s.
  function startMetricsPolling() {
    if (state.metricsPoll) return;
    state.metricsPoll = setInterval(async () => {
      const before = pick(state.metrics, "events.total");
      await refreshMetrics();
      if (pick(state.metrics, "events.total") !== before) {
        loadRecentEvents();
        loadPerMinute();
      }
    }, METRICS_POLL_MS);
  }

  function stopMetricsPolling() {
    clearInterval(state.metricsPoll);
    state.metricsPoll = null;
  }

  // Lists that follow the pipeline's state refresh when its counts change.
  let refreshTimer = null;
  function scheduleDataRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      if (state.tab === "batches") loadBatches(false);
      else if (state.tab === "jobs") loadJobsTab();
      if (state.tab === "insights" || state.tab === "overview") loadInsights(false);
    }, 250);
  }

  // ---------------------------------------------------------------------------
  // The live stream.

  function setLive(s) {
    state.liveState = s;
    const el = $("live-indicator");
    el.dataset.state = s;
    el.querySelector(".live-text").textContent = { live: "Live", disconnected: "Live stream disconnected", connecting: "Connecting…" }[s] || s;
    el.title = s === "disconnected" ? "Reconnecting; metrics are polled every 5 s meanwhile" : "";
  }

  async function fetchTicket() {
    const t = await api("/api/admin/live/ticket", { method: "POST" });
    return t && typeof t.ticket === "string" ? t.ticket : "";
  }

  function connectLive() {
    if (typeof window.io !== "function") {
      setLive("disconnected");
      startMetricsPolling();
      return;
    }
    const socket = window.io("/admin", {
      path: "/api/socket",
      transports: ["websocket", "polling"],
      reconnectionDelay: 1000,
      reconnectionDelayMax: 10000,
      // A function, so that every (re)connection gets a fresh ticket.
      auth: (cb) => {
        fetchTicket().then((ticket) => cb({ ticket }), () => cb({ ticket: "" }));
      },
    });
    state.socket = socket;
    let connectedBefore = false;
    socket.on("connect", () => {
      state.reconnectDelay = 1000;
      setLive("live");
      stopMetricsPolling();
      // Back after a break: fill in what came meanwhile.
      if (connectedBefore) {
        loadRecentEvents();
        loadPerMinute();
        refreshMetrics();
      }
      connectedBefore = true;
    });
    socket.on("disconnect", (reason) => {
      setLive("disconnected");
      startMetricsPolling();
      // The server ended it: socket.io will not reconnect by itself.
      if (reason === "io server disconnect") retryLive();
    });
    socket.on("connect_error", () => {
      setLive("disconnected");
      startMetricsPolling();
      // Refused by the namespace (e.g. an expired ticket): socket.io gives up
      // on such errors, so try again, backing off.
      if (!socket.active) retryLive();
    });
    socket.on("events", (list) => {
      if (Array.isArray(list)) addLiveEvents(list, true);
    });
    socket.on("metrics", (m) => applyMetrics(m));
  }

  function retryLive() {
    if (state.reconnectTimer || redirecting) return;
    const delay = state.reconnectDelay;
    state.reconnectDelay = Math.min(delay * 2, 15000);
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = null;
      if (state.socket && !state.socket.connected) state.socket.connect();
    }, delay);
  }

  function liveRow(e, fresh) {
    const id = str(e.eventId);
    return h("li", { class: `live-row${fresh ? " fresh" : ""}`, "data-event-id": id },
      h("span", { class: "badge type", title: str(e.eventType) }, str(e.eventType) || "—"),
      h("span", { class: "live-user mono", title: "user" }, str(e.userId) || "anonymous"),
      h("time", { class: "live-time", datetime: str(e.receivedAt), title: fmtAbsolute(e.receivedAt) }, fmtClock(e.receivedAt || e.timestamp)),
      h("span", { class: "live-batch" }, batchLink(e.batchId)));
  }

  // `events` oldest first; each goes on top of the list.
  function addLiveEvents(events, fresh) {
    const list = $("live-list");
    const added = [];
    for (const e of events) {
      if (!e || typeof e !== "object") continue;
      const id = str(e.eventId);
      if (id && state.seenEvents.has(id)) continue;
      if (id) state.seenEvents.add(id);
      list.insertBefore(liveRow(e, fresh && state.tab === "overview"), list.firstChild);
      added.push(e);
    }
    while (list.children.length > LIVE_ROWS) {
      const last = list.lastElementChild;
      state.seenEvents.delete(last.dataset.eventId);
      last.remove();
    }
    $("live-empty").hidden = list.children.length > 0;
    $("live-count").textContent = list.children.length ? `latest ${list.children.length}` : "";
    if (fresh && added.length) bumpPerMinute(added);
  }

  async function loadRecentEvents() {
    try {
      const data = await api("/api/admin/events?limit=50");
      const events = Array.isArray(data.events) ? data.events.slice() : [];
      events.sort((a, b) => (parseTime(a.receivedAt) || 0) - (parseTime(b.receivedAt) || 0));
      addLiveEvents(events, false);
    } catch {
      /* the live stream fills it */
    }
  }

  // ---------------------------------------------------------------------------
  // Charts (uPlot).

  function chartWidth(el) {
    return Math.max(200, Math.floor(el.clientWidth || 0));
  }

  // padX: seconds of room on both sides of the x range (half a bar).
  function makeChart(el, series, data, padX = 0) {
    if (typeof window.uPlot !== "function" || !el.clientWidth) return null;
    return new window.uPlot({
      width: chartWidth(el),
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { show: true },
      scales: {
        // From the data itself: uPlot's own range for a single point spans years.
        x: {
          time: true,
          auto: false,
          range: (u) => {
            const xs = u.data[0] || [];
            if (xs.length === 0) {
              const now = Date.now() / 1000;
              return [now - 3600, now];
            }
            const first = xs[0];
            const last = xs[xs.length - 1];
            const pad = Math.max(padX, (last - first) * 0.04);
            return first === last ? [first - 60, last + 60] : [first - pad, last + pad];
          },
        },
        y: { range: (u, min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#cbd5e1" } },
        { stroke: "#475569", grid: { stroke: "#e2e8f0" }, ticks: { stroke: "#cbd5e1" }, size: 56 },
      ],
      series: [{}, series],
    }, data, el);
  }

  function ensureCharts() {
    if (state.tab !== "overview" || typeof window.uPlot !== "function") return;
    if (!state.charts.events && state.perMinute) {
      state.charts.events = makeChart($("chart-events"), {
        label: "Events",
        stroke: "#2563eb",
        fill: "rgba(37, 99, 235, 0.35)",
        width: 1,
        paths: window.uPlot.paths && window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
        points: { show: false },
      }, [state.perMinute.xs, state.perMinute.ys], 30);
    }
    if (!state.charts.durations && state.durations) {
      state.charts.durations = makeChart($("chart-durations"), {
        label: "Duration (ms)",
        stroke: "#059669",
        width: 2,
        paths: () => null, // points only: each is one job
        points: { show: true, size: 8, fill: "#059669" },
      }, state.durations);
    }
  }

  function resizeCharts() {
    for (const [name, chart] of Object.entries(state.charts)) {
      if (!chart) continue;
      const el = $(name === "events" ? "chart-events" : "chart-durations");
      if (el.clientWidth && chart.width !== chartWidth(el)) chart.setSize({ width: chartWidth(el), height: CHART_HEIGHT });
    }
  }

  async function loadPerMinute() {
    try {
      const data = await api("/api/admin/events/per-minute?minutes=60");
      const rows = Array.isArray(data.minutes) ? data.minutes : [];
      const xs = [];
      const ys = [];
      for (const r of rows) {
        const t = parseTime(r.minute);
        if (t === null) continue;
        xs.push(Math.floor(t / 1000));
        ys.push(typeof r.count === "number" ? r.count : 0);
      }
      state.perMinute = { xs, ys };
    } catch {
      if (!state.perMinute) state.perMinute = null;
    }
    renderPerMinute();
  }

  function renderPerMinute() {
    const empty = !state.perMinute || state.perMinute.xs.length === 0;
    $("chart-events-empty").hidden = !empty;
    if (empty) return;
    if (state.charts.events) state.charts.events.setData([state.perMinute.xs, state.perMinute.ys]);
    else ensureCharts();
  }

  // Live events count into the current minute's bar at once.
  function bumpPerMinute(events) {
    const pm = state.perMinute;
    if (!pm || pm.xs.length === 0) return;
    for (const e of events) {
      const t = parseTime(e.receivedAt);
      if (t === null) continue;
      const minute = Math.floor(t / 60000) * 60;
      const last = pm.xs[pm.xs.length - 1];
      if (minute === last) pm.ys[pm.ys.length - 1] += 1;
      else if (minute > last) {
        for (let m = last + 60; m <= minute; m += 60) {
          pm.xs.push(m);
          pm.ys.push(m === minute ? 1 : 0);
        }
        while (pm.xs.length > 60) {
          pm.xs.shift();
          pm.ys.shift();
        }
      } else {
        const i = pm.xs.indexOf(minute);
        if (i >= 0) pm.ys[i] += 1;
      }
    }
    renderPerMinute();
  }

  async function loadDurations() {
    try {
      const data = await api("/api/admin/jobs?status=SUCCESS&limit=100");
      const points = [];
      for (const j of Array.isArray(data.jobs) ? data.jobs : []) {
        const t = parseTime(j.finishedAt) ?? parseTime(j.updatedAt);
        if (t === null || typeof j.durationMs !== "number") continue;
        points.push([t / 1000, j.durationMs]);
      }
      points.sort((a, b) => a[0] - b[0]);
      state.durations = [points.map((p) => p[0]), points.map((p) => p[1])];
    } catch {
      return;
    }
    const empty = state.durations[0].length === 0;
    $("chart-durations-empty").hidden = !empty;
    if (state.charts.durations) state.charts.durations.setData(state.durations);
    else ensureCharts();
  }

  // ---------------------------------------------------------------------------
  // Batches.

  function batchRow(b) {
    const id = str(b.batchId);
    const actions = h("td", { class: "actions" });
    if (b.status === "OPEN") {
      actions.appendChild(h("button", {
        type: "button", class: "btn btn-small", "data-action": "seal", "aria-label": `Seal batch ${id}`,
        onclick: (ev) => sealBatch(id, ev.currentTarget),
      }, "Seal"));
    }
    if (b.status === "SEALED" || b.status === "ANALYZED") {
      actions.appendChild(h("button", {
        type: "button", class: "btn btn-small btn-primary", "data-action": "analyze", "aria-label": `Analyze batch ${id}`,
        onclick: (ev) => analyzeBatch(id, ev.currentTarget),
      }, "Analyze"));
    }
    const created = parseTime(b.createdAt);
    return h("tr", { "data-batch-id": id, "data-status": str(b.status) },
      h("td", null, batchLink(id)),
      h("td", null, statusBadge(b.status)),
      h("td", { class: "num" }, fmtNum(b.eventCount)),
      h("td", null, created === null ? "—" : h("time", { class: "age", datetime: b.createdAt, title: `Created ${fmtAbsolute(b.createdAt)}` }, fmtAge(Date.now() - created))),
      h("td", null, b.sealedAt ? [timeRel(b.sealedAt), b.sealReason ? h("span", { class: "muted small" }, ` ${str(b.sealReason).toLowerCase()}`) : null] : h("span", { class: "muted" }, "—")),
      h("td", null, b.analyzedAt ? timeRel(b.analyzedAt) : h("span", { class: "muted" }, "—")),
      actions);
  }

  // reset: from the first page; otherwise re-read what is shown (as many rows).
  async function loadBatches(reset) {
    const s = state.batches;
    if (s.loading) return;
    s.loading = true;
    const limit = reset ? BATCH_PAGE : Math.min(500, Math.max(BATCH_PAGE, s.items.length));
    try {
      const data = await api(`/api/admin/batches${query({ status: s.filter, limit })}`);
      s.items = Array.isArray(data.batches) ? data.batches : [];
      s.cursor = data.nextCursor || null;
      renderBatches();
    } catch (e) {
      if (e.status !== 401) toast(`Could not load batches: ${e.message}`, "error");
    } finally {
      s.loading = false;
    }
  }

  // The next page of a cursor-paged list (`s`: its state), appended below what
  // is shown; `key` names the list in the answer, `id` an item's identity.
  async function loadMore(s, path, params, key, id, render) {
    if (s.loading || !s.cursor) return;
    s.loading = true;
    try {
      const data = await api(`${path}${query({ ...params, cursor: s.cursor })}`);
      const seen = new Set(s.items.map((item) => item[id]));
      for (const item of data[key] || []) if (!seen.has(item[id])) s.items.push(item);
      s.cursor = data.nextCursor || null;
      render();
    } catch (e) {
      toast(`Could not load ${key}: ${e.message}`, "error");
    } finally {
      s.loading = false;
    }
  }

  function loadMoreBatches() {
    const s = state.batches;
    return loadMore(s, "/api/admin/batches", { status: s.filter, limit: BATCH_PAGE }, "batches", "batchId", renderBatches);
  }

  function renderBatches() {
    const s = state.batches;
    const tbody = $("batch-rows");
    // Keep focus on a row's button across the re-render when possible.
    const active = document.activeElement;
    const focusKey = active && active.closest && active.closest("#batch-rows tr") ? [active.closest("tr").dataset.batchId, active.dataset.action] : null;
    clear(tbody);
    for (const b of s.items) tbody.appendChild(batchRow(b));
    $("batch-empty").hidden = s.items.length > 0;
    $("batch-more").hidden = !s.cursor;
    if (focusKey) {
      const again = tbody.querySelector(`tr[data-batch-id="${CSS.escape(focusKey[0])}"] [data-action="${CSS.escape(focusKey[1] || "")}"]`);
      if (again) again.focus();
    }
  }

  async function sealBatch(id, button) {
    button.disabled = true;
    try {
      const r = await api(`/api/admin/batches/${encodeURIComponent(id)}/seal`, { method: "POST" });
      toast(`Batch sealed (${fmtNum(r.eventCount)} events); analysis job ${str(r.jobId)} queued`);
    } catch (e) {
      toast(e.message, "error");
    }
    await loadBatches(false);
    refreshMetrics();
  }

  async function restoreBatch(id, button) {
    button.disabled = true;
    try {
      const r = await api(`/api/admin/batches/${encodeURIComponent(id)}/restore`, { method: "POST" });
      toast(`Batch restored (${fmtNum(r.restoredEvents)} events back in the event log)`);
    } catch (e) {
      toast(e.message, "error");
    }
    await openBatch(id);
    await loadBatches(false);
    refreshMetrics();
  }

  async function analyzeBatch(id, button) {
    button.disabled = true;
    try {
      await api(`/api/admin/batches/${encodeURIComponent(id)}/analyze`, { method: "POST" });
      toast("Analysis triggered successfully");
    } catch (e) {
      toast(e.message, "error");
    }
    await loadBatches(false);
    refreshMetrics();
  }

  // ---------------------------------------------------------------------------
  // Jobs and the dead-letter queue.

  function jobRow(j) {
    const id = str(j.jobId);
    const attempts = `${fmtNum(j.attemptCount)}/${fmtNum(j.maxAttempts)}`;
    const errors = Array.isArray(j.errors) ? j.errors : [];
    let errorCell;
    // A job that succeeded keeps the error of an earlier try: shown muted.
    const errClass = j.status === "SUCCESS" ? "error-text stale" : "error-text";
    if (j.lastError) {
      errorCell = errors.length > 1
        ? h("details", { class: "error-details" },
          h("summary", { class: errClass, title: str(j.lastError) }, str(j.lastError)),
          errorList(errors))
        : h("span", { class: errClass, title: str(j.lastError) }, str(j.lastError));
    } else errorCell = h("span", { class: "muted" }, "—");
    return h("tr", { "data-job-id": id, "data-status": str(j.status) },
      h("td", { class: "mono", title: id }, shortId(id)),
      h("td", null, batchLink(j.batchId)),
      h("td", null, statusBadge(j.status)),
      h("td", null, str(j.trigger).toLowerCase() || "—"),
      h("td", { class: "num" }, attempts),
      h("td", { class: "num" }, j.status === "RUNNING" && j.startedAt ? h("span", { class: "muted" }, "running") : fmtDuration(j.durationMs)),
      h("td", null, timeRel(j.createdAt)),
      h("td", { class: "error-cell" }, errorCell));
  }

  function errorList(errors) {
    return h("ol", { class: "error-list" }, errors.map((x) => {
      if (!x || typeof x !== "object") return h("li", null, str(x));
      return h("li", null,
        h("span", { class: "muted small" }, `Attempt ${str(x.attempt) || "?"}${x.at ? ` · ${fmtAbsolute(x.at)}` : ""}`),
        h("div", { class: "mono small wrap" }, str(x.error || x.message) || JSON.stringify(x)));
    }));
  }

  async function loadJobs() {
    const s = state.jobs;
    if (s.loading) return;
    s.loading = true;
    try {
      const data = await api(`/api/admin/jobs${query({ status: s.filter, limit: s.limit })}`);
      const jobs = Array.isArray(data.jobs) ? data.jobs : [];
      const tbody = $("job-rows");
      clear(tbody);
      for (const j of jobs) tbody.appendChild(jobRow(j));
      $("job-empty").hidden = jobs.length > 0;
      $("job-more").hidden = jobs.length < s.limit || s.limit >= 500;
    } catch (e) {
      if (e.status !== 401) toast(`Could not load jobs: ${e.message}`, "error");
    } finally {
      s.loading = false;
    }
  }

  function dlqEntry(d) {
    const id = str(d.dlqId);
    const errors = Array.isArray(d.errors) ? d.errors : [];
    const redriven = Boolean(d.redrivenAt);
    return h("li", { class: "dlq-entry", "data-dlq-id": id, "data-job-id": str(d.jobId), "data-redriven": redriven ? "true" : "false" },
      h("div", { class: "dlq-head" },
        h("div", null,
          h("div", { class: "dlq-title" }, "Job ", h("span", { class: "mono" }, str(d.jobId)), " · batch ", batchLink(d.batchId)),
          h("div", { class: "muted small" },
            h("span", { class: "dlq-attempts" }, `${fmtNum(d.attemptCount)} attempt${d.attemptCount === 1 ? "" : "s"}`),
            " · failed ", timeRel(d.failedAt),
            redriven ? [" · redriven ", timeRel(d.redrivenAt), d.redrivenJobId ? ` as ${str(d.redrivenJobId)}` : ""] : null)),
        h("div", { class: "actions" },
          h("button", {
            type: "button", class: "btn btn-small btn-primary", "data-action": "redrive", disabled: redriven,
            "aria-label": `Redrive job ${str(d.jobId)}`,
            onclick: (ev) => redrive(id, ev.currentTarget),
          }, redriven ? "Redriven" : "Redrive"),
          h("button", {
            type: "button", class: "btn btn-small btn-danger", "data-action": "discard",
            "aria-label": `Discard dead letter of job ${str(d.jobId)}`,
            onclick: () => discard(id, str(d.jobId)),
          }, "Discard"))),
      h("pre", { class: "dlq-error" }, str(d.lastError) || "(no error recorded)"),
      errors.length ? h("details", { class: "error-details" },
        h("summary", null, `All ${errors.length} error${errors.length === 1 ? "" : "s"}`),
        errorList(errors)) : null);
  }

  async function loadDlq() {
    try {
      const data = await api("/api/admin/dlq?limit=100");
      const items = Array.isArray(data.deadLetters) ? data.deadLetters : [];
      const list = $("dlq-list");
      // Keep expanded error lists expanded across refreshes.
      const open = new Set([...list.querySelectorAll("li details[open]")].map((d) => d.closest("li").dataset.dlqId));
      clear(list);
      for (const d of items) {
        const el = dlqEntry(d);
        if (open.has(str(d.dlqId))) {
          const det = el.querySelector("details");
          if (det) det.open = true;
        }
        list.appendChild(el);
      }
      $("dlq-total").textContent = fmtNum(typeof data.total === "number" ? data.total : items.length);
      $("dlq-empty").hidden = items.length > 0;
    } catch (e) {
      if (e.status !== 401) toast(`Could not load the dead-letter queue: ${e.message}`, "error");
    }
  }

  function loadJobsTab() {
    loadJobs();
    loadDlq();
  }

  async function redrive(id, button) {
    button.disabled = true;
    try {
      const r = await api(`/api/admin/dlq/${encodeURIComponent(id)}/retry`, { method: "POST" });
      toast(`Redriven: job ${str(r.job && r.job.jobId)} queued`);
    } catch (e) {
      button.disabled = false;
      toast(e.message, "error");
    }
    loadJobsTab();
    refreshMetrics();
  }

  async function discard(id, jobId) {
    const ok = await confirmDialog({
      title: "Discard dead letter?",
      text: `The dead-letter entry of job ${jobId} and its error history will be deleted. This cannot be undone.`,
      ok: "Discard",
    });
    if (!ok) return;
    try {
      await api(`/api/admin/dlq/${encodeURIComponent(id)}`, { method: "DELETE" });
      toast("Dead letter discarded");
    } catch (e) {
      toast(e.message, "error");
    }
    loadDlq();
    refreshMetrics();
  }

  // ---------------------------------------------------------------------------
  // Insights.

  // A pattern / recommendation / anomaly, whatever its shape: a string, or an
  // object with a title (title, name, metric) and a text (description, detail,
  // text, ...), figures (observed / expected, evidence) and tags (severity, ...).
  const LEAD_KEYS = ["title", "name", "metric", "pattern"];
  const BODY_KEYS = ["description", "detail", "details", "text", "summary", "message", "recommendation", "insight", "action"];
  const TAG_KEYS = ["severity", "priority", "impact", "category", "type", "confidence", "zScore", "z_score", "frequency"];

  function firstString(item, keys, skip) {
    for (const k of keys) if (k !== skip && typeof item[k] === "string" && item[k]) return [k, item[k]];
    return [null, null];
  }

  function figure(v) {
    return typeof v === "number" ? String(Math.round(v * 1000) / 1000) : str(v);
  }

  function itemView(item) {
    if (item === null || item === undefined) return null;
    if (typeof item !== "object") return h("li", null, str(item));
    if (Array.isArray(item)) return h("li", null, item.map((x) => (typeof x === "object" ? JSON.stringify(x) : str(x))).join(", "));
    const [bodyKey, body] = firstString(item, BODY_KEYS);
    const [, lead] = firstString(item, LEAD_KEYS, bodyKey);
    const tags = [];
    if (item.observed !== undefined) {
      const exp = item.expected && typeof item.expected === "object" ? item.expected : null;
      const range = exp && (exp.low !== undefined || exp.high !== undefined) ? `, expected ${figure(exp.low)}–${figure(exp.high)}` : item.expected !== undefined && !exp ? `, expected ${figure(item.expected)}` : "";
      tags.push(h("span", { class: "tag" }, `observed ${figure(item.observed)}${range}`));
    }
    for (const k of TAG_KEYS) {
      const v = item[k];
      if (typeof v === "string" || typeof v === "number") {
        const text = k === "confidence" && typeof v === "number" && v <= 1 ? `${Math.round(v * 100)}%` : figure(v);
        tags.push(h("span", { class: `tag tag-${k}`, "data-value": str(v).toLowerCase() }, `${k}: ${text}`));
      }
    }
    if (Array.isArray(item.evidence)) {
      for (const e of item.evidence.slice(0, 10)) {
        if (e && typeof e === "object" && e.metric !== undefined) tags.push(h("span", { class: "tag mono" }, `${str(e.metric)} = ${figure(e.value)}`));
      }
    }
    const main = body || (lead ? null : JSON.stringify(item).slice(0, 300));
    return h("li", null,
      lead ? h("strong", null, main ? `${lead}: ` : lead) : null,
      main,
      tags.length ? h("span", { class: "tags" }, tags) : null);
  }

  function listSection(title, items, cls) {
    let arr = items;
    if (arr && !Array.isArray(arr)) arr = typeof arr === "object" ? Object.values(arr) : [arr];
    if (!arr || arr.length === 0) return null;
    return h("section", { class: `insight-section ${cls}` },
      h("h3", null, title),
      h("ul", null, arr.slice(0, 50).map(itemView)));
  }

  function confidenceView(c) {
    if (typeof c !== "number" || !Number.isFinite(c)) return h("span", { class: "muted" }, "confidence —");
    const pct = Math.round(Math.max(0, Math.min(1, c)) * 100);
    const fill = h("span", { class: "meter-fill" });
    fill.style.width = `${pct}%`;
    const level = pct >= 75 ? "high" : pct >= 50 ? "mid" : "low";
    return h("span", { class: `confidence confidence-${level}`, title: `Confidence ${pct}%` },
      h("span", { class: "meter", "aria-hidden": "true" }, fill),
      h("span", { class: "confidence-value" }, `${pct}%`), " confidence");
  }

  function insightCard(i) {
    const model = i.model ? `${str(i.analyzer)} · ${str(i.model)}` : str(i.analyzer);
    return h("li", { class: "insight", "data-insight-id": str(i.insightId), "data-job-id": str(i.jobId), "data-batch-id": str(i.batchId) },
      h("div", { class: "insight-dot", "aria-hidden": "true" }),
      h("article", { class: "insight-card" },
        h("header", { class: "insight-head" },
          h("time", { datetime: str(i.createdAt), title: fmtAbsolute(i.createdAt), class: "insight-time" }, fmtAbsolute(i.createdAt)),
          confidenceView(i.confidence),
          h("span", { class: "badge analyzer", title: "analyzer" }, model || "—"),
          h("span", { class: "muted small" }, "batch ", batchLink(i.batchId))),
        h("p", { class: "insight-summary" }, str(i.summary) || "(no summary)"),
        listSection("Patterns", i.patterns, "patterns"),
        listSection("Recommendations", i.recommendations, "recommendations"),
        listSection("Anomalies", i.anomalies, "anomalies"),
        h("footer", { class: "muted small" },
          `Job ${str(i.jobId)}`,
          typeof i.latencyMs === "number" && i.latencyMs > 0 ? ` · ${fmtDuration(i.latencyMs)}` : "",
          (i.promptTokens || i.completionTokens) ? ` · ${fmtNum((i.promptTokens || 0) + (i.completionTokens || 0))} tokens` : "")));
  }

  // reset: start over from the first page; otherwise put new insights on top.
  async function loadInsights(reset) {
    const s = state.insights;
    if (s.loading) return;
    s.loading = true;
    try {
      const data = await api(`/api/insights${query({ limit: INSIGHT_PAGE })}`);
      const page = Array.isArray(data.insights) ? data.insights : [];
      if (reset || s.items.length === 0) {
        s.items = page;
        s.cursor = data.nextCursor || null;
      } else {
        const seen = new Set(s.items.map((i) => i.insightId));
        const fresh = page.filter((i) => !seen.has(i.insightId));
        s.items = fresh.concat(s.items);
      }
      s.updatedAt = new Date().toISOString();
      renderInsights();
    } catch (e) {
      if (e.status !== 401 && state.tab === "insights") toast(`Could not load insights: ${e.message}`, "error");
    } finally {
      s.loading = false;
    }
  }

  function loadMoreInsights() {
    return loadMore(state.insights, "/api/insights", { limit: INSIGHT_PAGE }, "insights", "insightId", renderInsights);
  }

  function renderInsights() {
    const s = state.insights;
    const list = $("insight-list");
    clear(list);
    for (const i of s.items) list.appendChild(insightCard(i));
    $("insight-empty").hidden = s.items.length > 0;
    $("insight-more").hidden = !s.cursor;
    const upd = $("insights-updated");
    clear(upd);
    upd.appendChild(timeRel(s.updatedAt));

    const mini = $("overview-insights");
    clear(mini);
    for (const i of s.items.slice(0, 5)) {
      mini.appendChild(h("li", { class: "mini-insight", "data-insight-id": str(i.insightId) },
        h("div", { class: "mini-head" }, timeRel(i.createdAt), confidenceView(i.confidence)),
        h("p", { class: "mini-summary" }, str(i.summary) || "(no summary)"),
        h("div", { class: "muted small" }, `${str(i.analyzer)}${i.model ? ` · ${str(i.model)}` : ""} · batch `, batchLink(i.batchId))));
    }
    $("overview-insights-empty").hidden = s.items.length > 0;
  }

  // ---------------------------------------------------------------------------
  // Start.

  function bindControls() {
    $("sign-out").addEventListener("click", async () => {
      $("sign-out").disabled = true;
      try {
        await api("/api/auth/logout", { method: "POST" });
      } catch {
        /* signed out either way */
      }
      redirecting = true;
      if (state.socket) state.socket.disconnect();
      window.location.replace("/admin/login");
    });
    $("batch-filter").addEventListener("change", (ev) => {
      state.batches.filter = ev.target.value;
      loadBatches(true);
    });
    $("batch-refresh").addEventListener("click", () => loadBatches(true));
    $("batch-more").addEventListener("click", loadMoreBatches);
    $("job-filter").addEventListener("change", (ev) => {
      state.jobs.filter = ev.target.value;
      state.jobs.limit = JOB_PAGE;
      loadJobs();
    });
    $("job-refresh").addEventListener("click", loadJobsTab);
    $("job-more").addEventListener("click", () => {
      state.jobs.limit = Math.min(500, state.jobs.limit + JOB_PAGE);
      loadJobs();
    });
    $("insight-refresh").addEventListener("click", () => loadInsights(false));
    $("insight-more").addEventListener("click", loadMoreInsights);
    // Highlights play once (a panel shown again would replay them).
    const settle = (ev) => {
      const el = ev.target;
      if (el.classList && (el.classList.contains("bump") || el.classList.contains("fresh"))) el.classList.remove("bump", "fresh");
    };
    document.addEventListener("animationend", settle);
    document.addEventListener("animationcancel", settle);
    if (typeof ResizeObserver === "function") {
      const ro = new ResizeObserver(() => resizeCharts());
      ro.observe($("chart-events"));
      ro.observe($("chart-durations"));
    } else window.addEventListener("resize", resizeCharts);
  }

  async function start() {
    bindTabs();
    bindControls();
    let session;
    try {
      session = await api("/api/auth/session");
    } catch (e) {
      if (e.status !== 401) {
        toast(`Cannot load the session: ${e.message}`, "error");
        setTimeout(() => window.location.reload(), 5000);
      }
      return;
    }
    state.csrf = str(session.csrfToken);
    $("whoami").textContent = str(session.id) || "admin";
    setLive("connecting");
    selectTab(tabFromHash() || "overview");

    await Promise.all([refreshMetrics(), loadRecentEvents(), loadPerMinute(), loadDurations(), loadInsights(true)]);
    connectLive();

    setInterval(tickRelativeTimes, 5000);
    setInterval(() => loadInsights(false), INSIGHTS_REFRESH_MS);
    setInterval(() => {
      if (state.tab === "jobs" && !document.hidden) loadJobsTab();
    }, JOBS_REFRESH_MS);
    // The per-minute chart from the server each minute (live events bump it
    // in between); the durations with it.
    setInterval(() => {
      loadPerMinute();
      loadDurations();
    }, 60000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
