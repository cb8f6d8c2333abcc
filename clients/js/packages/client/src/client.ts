// createAnalytics(): the tracker. Events get their ids and times here, wait in
// a bounded queue (persisted in browsers) and leave it only once insightd has
// acknowledged them (`ok` or `duplicate`): over Socket.IO while it connects,
// else over POST /api/events, and with navigator.sendBeacon when the page is
// hidden or closed. A retryable answer or a lost connection sends again after
// a backoff with jitter; a refused event is dropped and reported. Any resend is
// harmless: insightd stores an eventId once.
import { io } from "socket.io-client";
import { eventId, randomId } from "./ids.js";
import { Queue, type AnalyticsEvent, type QueuedEvent } from "./queue.js";
import { defaultStore, keyValue, memoryStore, type KeyValue, type QueueStore } from "./store.js";

export type Metadata = Record<string, unknown>;

export type DeliveryEvent =
  | { type: "queued"; eventId: string }
  | { type: "delivered"; eventId: string; status: "ok" | "duplicate" }
  | { type: "dropped"; eventId: string }
  | { type: "rejected"; eventId: string; code: string; message: string }
  | { type: "retry"; code: string; inMs: number };

export interface Stats {
  queued: number;
  inFlight: number;
  delivered: number;
  dropped: number;
  rejected: number;
  transport: "websocket" | "polling" | "http" | "none";
}

// What the client needs of a socket.io-client Socket (a fake in unit tests).
export interface SocketLike {
  connected: boolean;
  on(event: string, fn: (...args: any[]) => void): unknown;
  timeout(ms: number): { emit(event: string, data: unknown, ack: (err: unknown, res: any) => void): unknown };
  close(): unknown;
  io?: { engine?: { transport?: { name?: string } }; on?(event: string, fn: (...args: any[]) => void): unknown };
}

export interface AnalyticsOptions {
  url: string; // insightd's origin: "https://analytics.example.com"
  path?: string; // "/api/socket"
  writeKey?: string;
  persist?: boolean; // keep the queue across reloads (browsers; default true)
  maxEvents?: number; // queued at most: 1,000 in a browser, 10,000 in Node...
  maxBytes?: number; // ...and 1 MiB in a browser, 8 MiB in Node
  batchSize?: number; // events per message or request (100)
  maxInFlight?: number; // messages awaiting their answer (4)
  sessionTimeoutMs?: number; // a new session after this long idle (30 min)
  ackTimeoutMs?: number; // a send unanswered this long is sent again (10 s)
  httpFallback?: boolean; // POST /api/events while the socket cannot connect (true)
  httpAfterFailures?: number; // ...after this many failed attempts (2)
  httpAfterMs?: number; // ...or this long without a connection (3 s)
  transports?: string[]; // ["websocket", "polling"]
  autoStart?: boolean; // true
  onEvent?: (e: DeliveryEvent) => void;
  // For tests: the socket, fetch, the clock, randomness, storage.
  connect?: (url: string, options: Record<string, unknown>) => SocketLike;
  fetch?: typeof fetch;
  now?: () => number;
  random?: () => number;
  store?: QueueStore;
  kv?: KeyValue;
}

export interface Analytics {
  track(eventType: string, metadata?: Metadata): string;
  identify(userId: string, traits?: Metadata): void;
  page(metadata?: Metadata): string;
  // Resolves true once nothing is queued, false after `timeoutMs`.
  flush(timeoutMs?: number): Promise<boolean>;
  // flush(), then stop().
  shutdown(timeoutMs?: number): Promise<boolean>;
  start(): void;
  stop(): void;
  stats(): Stats;
  subscribe(fn: (e: DeliveryEvent) => void): () => void;
}

// Equal jitter: half of the doubled delay fixed, half random; 500 ms to 30 s.
export function backoff(failures: number, random: number): number {
  const d = Math.min(30_000, 500 * 2 ** Math.min(16, Math.max(0, failures - 1)));
  return Math.round(d / 2 + (random * d) / 2);
}

interface Outcome {
  eventId?: string;
  status?: string;
  code?: string;
  message?: string;
  retryable?: boolean;
  retryAfterMs?: number;
}

const g = globalThis as any;
// Bytes of one message or request at most (insightd takes 1 MB; a beacon 64 KB
// in all), and of everything one page hands to sendBeacon.
const MAX_SEND_BYTES = 60_000;
const size = (e: unknown): number => new TextEncoder().encode(JSON.stringify(e)).length;
// Whole-request refusals that no resend will change.
const FINAL = new Set(["unauthorized", "origin_not_allowed"]);

export function createAnalytics(options: AnalyticsOptions): Analytics {
  const browser = typeof g.document !== "undefined";
  const o = {
    path: "/api/socket",
    maxEvents: browser ? 1000 : 10_000,
    maxBytes: browser ? 1 << 20 : 8 << 20,
    batchSize: 100,
    maxInFlight: 4,
    sessionTimeoutMs: 30 * 60_000,
    ackTimeoutMs: 10_000,
    httpFallback: true,
    httpAfterFailures: 2,
    httpAfterMs: 3000,
    transports: ["websocket", "polling"],
    ...options,
  };
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const doFetch = o.fetch ?? g.fetch;
  const kv = o.kv ?? keyValue();
  const store = o.store ?? (browser && o.persist !== false ? defaultStore(kv) : memoryStore());
  const queue = new Queue(o.maxEvents, o.maxBytes);
  const base = o.url.replace(/\/+$/, "");
  const listeners = new Set<(e: DeliveryEvent) => void>();
  if (o.onEvent) listeners.add(o.onEvent);
  const counts = { delivered: 0, dropped: 0, rejected: 0 };
  const flights = new Map<number, QueuedEvent[]>();
  let waiters: Array<() => void> = [];
  let socket: SocketLike | null = null;
  let running = false;
  let attempts = 0;
  let failures = 0; // sends in a row that must be retried
  let connectFailures = 0;
  let batchLimit = o.batchSize; // halved while insightd refuses a message as too large
  let beaconed = false; // since the page was last visible
  let timer: ReturnType<typeof setTimeout> | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  let userId = kv.get("insightd:userId");
  let anonymousId = kv.get("insightd:anonymousId");
  if (!anonymousId) kv.set("insightd:anonymousId", (anonymousId = randomId("anon_")));

  const emit = (e: DeliveryEvent) => listeners.forEach((fn) => fn(e));
  const settled = () => {
    if (queue.size > 0) return;
    const w = waiters;
    waiters = [];
    w.forEach((fn) => fn());
  };

  const sessionId = (): string => {
    const t = now();
    let s: { id: string; last: number } | null = null;
    try {
      s = JSON.parse(kv.get("insightd:session") || "null");
    } catch {
      s = null;
    }
    if (!s || t - s.last > o.sessionTimeoutMs) s = { id: randomId("s_"), last: t };
    s.last = t;
    kv.set("insightd:session", JSON.stringify(s));
    return s.id;
  };

  const enqueue = (q: QueuedEvent, persist: boolean) => {
    dropped(queue.add(q));
    if (persist && queue.items.has(q.event.eventId)) store.put({ event: q.event, bytes: q.bytes });
  };
  const dropped = (list: QueuedEvent[]) => {
    for (const d of list) {
      store.remove([d.event.eventId]);
      counts.dropped++;
      emit({ type: "dropped", eventId: d.event.eventId });
    }
  };

  const remove = (q: QueuedEvent) => {
    queue.delete(q.event.eventId);
    store.remove([q.event.eventId]);
  };

  const retryLater = (code: string, atLeast = 0) => {
    failures++;
    const inMs = Math.max(atLeast, backoff(failures, random()));
    emit({ type: "retry", code, inMs });
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      pump();
    }, inMs);
  };

  // The answer to one send: per event, stored, to retry, or refused.
  const settle = (attempt: number, outcomes: Outcome[] | null, failure = "unanswered") => {
    const batch = flights.get(attempt);
    if (!batch) return;
    flights.delete(attempt);
    let retry = outcomes === null;
    let wait = 0;
    // One answer for a whole message of several (too large, malformed): in
    // smaller messages again, down to one event, whose answer it then is.
    if (outcomes && outcomes.length !== batch.length && !outcomes.some((x) => x?.eventId)) {
      if (batch.length > 1) {
        batch.forEach((q) => q.sending === attempt && (q.sending = 0));
        batchLimit = Math.max(1, Math.floor(batch.length / 2));
        return pump();
      }
      outcomes = batch.map((q) => ({ ...outcomes![0], eventId: q.event.eventId }));
    }
    batch.forEach((q, i) => {
      const r =
        outcomes?.find((x) => x && x.eventId === q.event.eventId) ??
        (outcomes?.length === batch.length ? outcomes[i] : undefined);
      if (q.sending === attempt) q.sending = 0;
      if (!r) {
        retry = true;
        return;
      }
      if (r.status === "ok" || r.status === "duplicate") {
        if (queue.items.has(q.event.eventId)) {
          remove(q);
          counts.delivered++;
          emit({ type: "delivered", eventId: q.event.eventId, status: r.status });
        }
      } else if (r.retryable || r.status === "unavailable") {
        retry = true;
        failure = r.code || failure;
        wait = Math.max(wait, r.retryAfterMs || 0);
      } else if (queue.items.has(q.event.eventId)) {
        remove(q);
        counts.rejected++;
        emit({ type: "rejected", eventId: q.event.eventId, code: r.code || "rejected", message: r.message || "" });
      }
    });
    settled();
    if (retry) return retryLater(failure, wait);
    failures = 0;
    batchLimit = Math.min(o.batchSize, batchLimit * 2);
    pump();
  };

  const post = async (attempt: number, events: AnalyticsEvent[]) => {
    try {
      // text/plain and the key in the body: no CORS preflight (as sendBeacon).
      const res = await doFetch(`${base}/api/events`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: JSON.stringify({ events, writeKey: o.writeKey }),
      });
      const body = await res.json().catch(() => null);
      if (body && Array.isArray(body.results)) return settle(attempt, body.results);
      const code: string = body?.error?.code || `http_${res.status}`;
      // Refused whole for good (the key, the page's origin), or too large for
      // one request (413: smaller ones, down to the one event too large);
      // anything else (a proxy's 502, a 408) passes: again later.
      if (FINAL.has(code) || res.status === 413) {
        return settle(attempt, [{ code, message: body?.error?.message || "" }]);
      }
      settle(attempt, null, code);
    } catch {
      settle(attempt, null, "network");
    }
  };

  const pump = () => {
    if (!running || timer) return;
    const viaSocket = !!socket?.connected;
    const viaHttp = !viaSocket && o.httpFallback && connectFailures >= o.httpAfterFailures && !!doFetch;
    if (!viaSocket && !viaHttp) return;
    while (flights.size < o.maxInFlight) {
      const batch = queue.idle(batchLimit, MAX_SEND_BYTES);
      if (!batch.length) return;
      const attempt = ++attempts;
      flights.set(attempt, batch);
      const sentAt = new Date(now()).toISOString();
      const events = batch.map((q) => {
        q.sending = attempt;
        return { ...q.event, sentAt };
      });
      if (viaSocket) {
        socket!.timeout(o.ackTimeoutMs).emit("user:events", events, (err: unknown, res: any) =>
          settle(attempt, err ? null : Array.isArray(res) ? res : [res], err ? "ack_timeout" : "unanswered"),
        );
      } else {
        void post(attempt, events);
      }
    }
  };

  // Everything queued, to insightd by sendBeacon (kept queued: the next send
  // of an event the beacon delivered is answered `duplicate`). Once per
  // hiding, within the browser's 64 KB for the page.
  const beacon = () => {
    const nav = g.navigator;
    if (!nav?.sendBeacon || !queue.size || beaconed) return;
    beaconed = true;
    const sentAt = new Date(now()).toISOString();
    let chunk: AnalyticsEvent[] = [];
    let total = 0;
    const send = () =>
      !chunk.length ||
      nav.sendBeacon(
        `${base}/api/events`,
        new Blob([JSON.stringify({ events: chunk, writeKey: o.writeKey })], { type: "text/plain" }),
      );
    for (const q of queue.items.values()) {
      if (total + q.bytes > MAX_SEND_BYTES) break;
      if (chunk.length >= 100) {
        if (!send()) return; // the browser's quota is spent
        chunk = [];
      }
      chunk.push({ ...q.event, sentAt });
      total += q.bytes;
    }
    send();
  };
  const onHide = () => {
    if (g.document?.visibilityState === "hidden") beacon();
    else beaconed = false;
  };
  const onOnline = () => {
    clearTimeout(timer);
    timer = undefined;
    failures = 0;
    pump();
  };

  const unsend = () => {
    for (const batch of flights.values()) for (const q of batch) q.sending = 0;
    flights.clear();
  };

  const start = () => {
    if (running) return;
    running = true;
    const connect = o.connect ?? ((url: string, opts: Record<string, unknown>) => io(url, opts) as unknown as SocketLike);
    socket = connect(base, {
      path: o.path,
      transports: o.transports,
      auth: o.writeKey ? { writeKey: o.writeKey } : {},
      reconnectionDelay: 500,
      reconnectionDelayMax: 10_000,
      forceNew: true,
    });
    // Not connected for a while (a blocked WebSocket may hang rather than
    // fail): HTTP until it connects.
    const watch = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        if (running && socket && !socket.connected) {
          connectFailures = Math.max(connectFailures, o.httpAfterFailures);
          pump();
        }
      }, o.httpAfterMs);
    };
    watch();
    socket.on("connect", () => {
      clearTimeout(watchdog);
      connectFailures = 0;
      onOnline();
    });
    // A failed attempt: refused (connect_error), or closed before it opened
    // (the manager's next attempt is the only sign of that).
    const failed = () => {
      if (++connectFailures === o.httpAfterFailures) pump();
    };
    socket.on("connect_error", failed);
    socket.io?.on?.("reconnect_attempt", () => {
      if (!socket?.connected) failed();
    });
    socket.on("disconnect", () => {
      unsend();
      if (!running) return;
      watch();
      pump();
    });
    if (browser) {
      g.addEventListener?.("pagehide", beacon);
      g.document.addEventListener?.("visibilitychange", onHide);
      g.addEventListener?.("online", onOnline);
    }
    pump();
  };

  const stop = () => {
    running = false;
    clearTimeout(timer);
    clearTimeout(watchdog);
    timer = undefined;
    unsend();
    socket?.close();
    socket = null;
    if (browser) {
      g.removeEventListener?.("pagehide", beacon);
      g.document.removeEventListener?.("visibilitychange", onHide);
      g.removeEventListener?.("online", onOnline);
    }
  };

  const track = (eventType: string, metadata?: Metadata): string => {
    const event: AnalyticsEvent = {
      eventId: eventId(now()),
      eventType,
      userId: userId || anonymousId!,
      sessionId: sessionId(),
      timestamp: new Date(now()).toISOString(),
      ...(metadata ? { metadata } : {}),
    };
    enqueue({ event, bytes: size(event) }, true);
    emit({ type: "queued", eventId: event.eventId });
    pump();
    return event.eventId;
  };

  // What a previous page left unsent.
  void store.load().then((saved) => {
    dropped(queue.prepend(saved.filter((q) => q?.event?.eventId).map((q) => ({ event: q.event, bytes: size(q.event) }))));
    pump();
  });
  if (o.autoStart !== false) start();

  const flush = (timeoutMs = 10_000) =>
    new Promise<boolean>((resolve) => {
      if (queue.size === 0) return resolve(true);
      const t = setTimeout(() => {
        waiters = waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      waiters.push(done);
    });

  return {
    track,
    identify(id, traits) {
      kv.set("insightd:userId", (userId = id));
      if (traits) track("identify", traits);
    },
    page(metadata) {
      const l = g.location;
      return track("page_view", { ...(l ? { path: l.pathname, url: l.href, title: g.document?.title, referrer: g.document?.referrer } : {}), ...metadata });
    },
    flush,
    async shutdown(timeoutMs) {
      const ok = await flush(timeoutMs);
      stop();
      return ok;
    },
    start,
    stop,
    stats: () => ({
      queued: queue.size,
      inFlight: flights.size,
      ...counts,
      transport: socket?.connected
        ? ((socket.io?.engine?.transport?.name as Stats["transport"]) ?? "websocket")
        : o.httpFallback && connectFailures >= o.httpAfterFailures
          ? "http"
          : "none",
    }),
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
