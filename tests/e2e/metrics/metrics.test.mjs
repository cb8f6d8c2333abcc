// GET /metrics against a real insightd: events sent over HTTP and Socket.IO (and
// some refused) move the counters by exactly what was sent, the database's
// state shows in the gauges, and the whole scrape passes Prometheus's own
// linter (`promtool check metrics`) with nothing to report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { io } from "socket.io-client";
import { startServer, tempDir, cleanup } from "../ingest/harness.mjs";

const PROMTOOL = process.env.PROMTOOL;
if (!PROMTOOL) throw new Error("PROMTOOL must name promtool (Debian package prometheus)");

function event(id, extra = {}) {
  return {
    eventId: id,
    eventType: "page_view",
    userId: "user_1",
    sessionId: "session_1",
    timestamp: new Date().toISOString(),
    metadata: { page: "/pricing" },
    ...extra,
  };
}

async function post(url, body) {
  const res = await fetch(`${url}/api/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

// Parses the text format into { text, samples: Map("name{labels}" -> number) }.
async function scrape(url) {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  const samples = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return { text, samples };
}

const value = (scraped, series) => scraped.samples.get(series) ?? 0;

function emitWithAck(socket, name, payload) {
  return new Promise((resolve) => socket.emit(name, payload, resolve));
}

test("counters move by what was sent, gauges show the database, promtool finds nothing", async () => {
  const dir = tempDir();
  const server = await startServer({ dir, env: { BATCH_MAX_EVENTS: "3" } });
  let socket;
  try {
    const before = await scrape(server.url);
    assert.equal(value(before, 'insightd_events_ingested_total{transport="http",status="ok"}'), 0);
    assert.equal(value(before, "insightd_database_up"), 1);
    assert.ok(!before.samples.has("insightd_last_event_age_seconds"), "no event yet: no age");

    // HTTP: three stored and one refused, then a duplicate and a fourth event.
    const first = await post(server.url, [event("h1"), event("h2"), event("h3"), event("bad", { eventType: "no spaces!" })]);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.accepted, 3);
    assert.equal((await post(server.url, event("h1"))).body.results[0].status, "duplicate");
    assert.equal((await post(server.url, event("h4"))).status, 200);
    assert.equal((await fetch(`${server.url}/no/such/route`)).status, 404);

    // Socket.IO: two stored, one refused.
    socket = io(server.url, { path: "/api/socket", transports: ["websocket"], reconnection: false });
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    const acks = await emitWithAck(socket, "user:events", [event("s1"), event("s2"), event("s3", { timestamp: "yesterday" })]);
    assert.deepEqual(acks.map((a) => a.status ?? a.code), ["ok", "ok", "invalid_timestamp"]);

    // The store's gauges are reused for a second between scrapes.
    await new Promise((r) => setTimeout(r, 1100));
    const after = await scrape(server.url);
    const delta = (series) => value(after, series) - value(before, series);
    assert.equal(delta('insightd_events_ingested_total{transport="http",status="ok"}'), 4);
    assert.equal(delta('insightd_events_ingested_total{transport="http",status="duplicate"}'), 1);
    assert.equal(delta('insightd_events_rejected_total{transport="http",code="invalid_event_type"}'), 1);
    assert.equal(delta('insightd_events_ingested_total{transport="socketio",status="ok"}'), 2);
    assert.equal(delta('insightd_events_rejected_total{transport="socketio",code="invalid_timestamp"}'), 1);
    // One ack-latency observation per committed event (ok or duplicate).
    assert.equal(delta('insightd_ingest_ack_latency_seconds_count{transport="http"}'), 5);
    assert.equal(delta('insightd_ingest_ack_latency_seconds_bucket{transport="http",le="+Inf"}'), 5);
    assert.equal(delta('insightd_ingest_ack_latency_seconds_count{transport="socketio"}'), 2);
    assert.ok(value(after, 'insightd_ingest_ack_latency_seconds_sum{transport="http"}') > 0);
    assert.equal(value(after, "insightd_ingest_queue_events"), 0);

    // HTTP requests by route pattern and status class (the first scrape included).
    assert.equal(delta('insightd_http_requests_total{method="POST",route="/api/events",status="2xx"}'), 3);
    assert.equal(delta('insightd_http_requests_total{method="(none)",route="(none)",status="4xx"}'), 1);
    assert.equal(value(after, 'insightd_http_requests_total{method="GET",route="/metrics",status="2xx"}'), 1);

    // The database's state: 6 events in batches of 3 make two sealed batches
    // (the workers may have analyzed them already) and their two jobs.
    const sealed = value(after, 'insightd_batches{status="sealed"}') + value(after, 'insightd_batches{status="analyzed"}');
    assert.equal(sealed, 2);
    assert.equal(value(after, 'insightd_batches{status="open"}'), 0);
    const jobs = ["pending", "running", "success", "dead"].reduce((n, s) => n + value(after, `insightd_jobs{status="${s}"}`), 0);
    assert.equal(jobs, 2);
    assert.ok(after.samples.get("insightd_last_event_age_seconds") < 60);
    assert.ok(value(after, "insightd_outbox_pending_messages") >= 2, "batch.sealed rows wait for a relay");
    assert.equal(value(after, "insightd_dead_letter_jobs"), 0);
    assert.equal(value(after, "insightd_database_up"), 1);
    assert.ok(after.text.includes("# TYPE insightd_job_duration_seconds histogram\n"));

    // Prometheus's linter has nothing to say about the whole scrape.
    const lint = spawnSync(PROMTOOL, ["check", "metrics"], { input: after.text, encoding: "utf8" });
    assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
    assert.equal((lint.stdout + lint.stderr).trim(), "", "promtool reported problems");
  } finally {
    socket?.close();
    await server.stop("SIGKILL");
    cleanup(dir);
  }
});
