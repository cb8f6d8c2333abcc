// Fakes for the unit tests: a socket.io-client Socket that records what is
// emitted and answers when told, and in-memory stores.
export class FakeSocket {
  connected = false;
  closed = false;
  handlers = new Map();
  sent = []; // { event, data, ack }
  io = { engine: { transport: { name: "websocket" } } };
  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
  }
  fire(event, ...args) {
    if (event === "connect") this.connected = true;
    if (event === "disconnect") this.connected = false;
    for (const fn of this.handlers.get(event) ?? []) fn(...args);
  }
  timeout() {
    return { emit: (event, data, ack) => this.sent.push({ event, data, ack }) };
  }
  close() {
    this.closed = true;
    this.connected = false;
  }
  // Answers the oldest unanswered send: each event `ok`, or what `answer` says.
  answer(answer = (e) => ({ eventId: e.eventId, status: "ok" })) {
    const s = this.sent.shift();
    s.ack(null, s.data.map(answer));
    return s.data;
  }
}

export function memoryKv() {
  const m = new Map();
  return { get: (k) => m.get(k) ?? null, set: (k, v) => m.set(k, v), map: m };
}

// A queue store that keeps what it is given, as a browser's would.
export function memoryQueueStore() {
  const all = new Map();
  return {
    all,
    load: async () => [...all.values()],
    put: (e) => all.set(e.event.eventId, e),
    remove: (ids) => ids.forEach((id) => all.delete(id)),
  };
}

export const tick = () => new Promise((r) => setImmediate(r));
