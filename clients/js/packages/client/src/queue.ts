// The queue of events not yet acknowledged, oldest first, bounded by count and
// by bytes: past either bound the oldest go first, counted as dropped. Each
// event is kept with its size and whether a send of it awaits an answer.
export interface AnalyticsEvent {
  eventId: string;
  eventType: string;
  userId?: string;
  sessionId: string;
  timestamp: string;
  metadata?: Record<string, unknown>;
  sentAt?: string;
}

export interface QueuedEvent {
  event: AnalyticsEvent;
  bytes: number;
  sending?: number; // the attempt awaiting an answer (not persisted)
}

export class Queue {
  readonly items = new Map<string, QueuedEvent>();
  bytes = 0;
  constructor(
    readonly maxEvents: number,
    readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.items.size;
  }

  // Adds `q`; returns the events dropped to make room (oldest first).
  add(q: QueuedEvent): QueuedEvent[] {
    if (this.items.has(q.event.eventId)) return [];
    this.items.set(q.event.eventId, q);
    this.bytes += q.bytes;
    const dropped: QueuedEvent[] = [];
    for (const [id, old] of this.items) {
      if (this.items.size <= this.maxEvents && this.bytes <= this.maxBytes) break;
      this.delete(id);
      dropped.push(old);
    }
    return dropped;
  }

  delete(id: string): QueuedEvent | undefined {
    const q = this.items.get(id);
    if (q) {
      this.items.delete(id);
      this.bytes -= q.bytes;
    }
    return q;
  }

  // Events saved by an earlier page go before this page's: they are older.
  prepend(saved: QueuedEvent[]): QueuedEvent[] {
    const rest = [...this.items.values()];
    this.items.clear();
    this.bytes = 0;
    const dropped: QueuedEvent[] = [];
    for (const q of [...saved, ...rest]) dropped.push(...this.add(q));
    return dropped;
  }

  // Up to `n` events not being sent, oldest first, of at most `maxBytes`
  // together (one at least).
  idle(n: number, maxBytes = Infinity): QueuedEvent[] {
    const out: QueuedEvent[] = [];
    let bytes = 0;
    for (const q of this.items.values()) {
      if (out.length >= n || (out.length > 0 && bytes + q.bytes > maxBytes)) break;
      if (!q.sending) {
        out.push(q);
        bytes += q.bytes;
      }
    }
    return out;
  }
}
