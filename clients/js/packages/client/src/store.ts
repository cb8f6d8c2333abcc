// Where the queue and the ids outlive the page: IndexedDB for the queue
// (localStorage when IndexedDB cannot open), localStorage for the small
// values; in memory in Node and wherever neither works.
import type { QueuedEvent } from "./queue.js";

export interface QueueStore {
  load(): Promise<QueuedEvent[]>;
  put(e: QueuedEvent): void;
  remove(ids: string[]): void;
}

export interface KeyValue {
  get(key: string): string | null;
  set(key: string, value: string): void;
}

const g = globalThis as any;

export function keyValue(): KeyValue {
  const mem = new Map<string, string>();
  let ls: Storage | undefined;
  try {
    ls = g.localStorage;
    ls?.setItem("insightd:probe", "1");
  } catch {
    ls = undefined;
  }
  return {
    get: (k) => (ls ? ls.getItem(k) : mem.get(k) ?? null),
    set: (k, v) => {
      try {
        ls ? ls.setItem(k, v) : mem.set(k, v);
      } catch {
        mem.set(k, v);
      }
    },
  };
}

export const memoryStore = (): QueueStore => ({ load: async () => [], put() {}, remove() {} });

// The whole queue as one JSON array, written once per task whatever changed.
export function localStore(kv: KeyValue, key = "insightd:queue"): QueueStore {
  const all = new Map<string, QueuedEvent>();
  let due = false;
  const save = () => {
    if (due) return;
    due = true;
    queueMicrotask(() => {
      due = false;
      kv.set(key, JSON.stringify([...all.values()]));
    });
  };
  return {
    async load() {
      try {
        for (const e of JSON.parse(kv.get(key) || "[]")) all.set(e.event.eventId, e);
      } catch {
        /* a damaged copy is dropped */
      }
      return [...all.values()];
    },
    put(e) {
      all.set(e.event.eventId, e);
      save();
    },
    remove(ids) {
      for (const id of ids) all.delete(id);
      save();
    },
  };
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

export function indexedDbStore(fallback: QueueStore, name = "insightd"): QueueStore {
  let db: Promise<IDBDatabase | null>;
  try {
    const open = (g.indexedDB as IDBFactory).open(name, 1);
    open.onupgradeneeded = () => open.result.createObjectStore("queue", { keyPath: "event.eventId" });
    db = request(open).catch(() => null);
  } catch {
    db = Promise.resolve(null);
  }
  const write = (fn: (s: IDBObjectStore) => void, orElse: () => void) =>
    db.then((d) => {
      if (!d) return orElse();
      try {
        fn(d.transaction("queue", "readwrite").objectStore("queue"));
      } catch {
        orElse();
      }
    });
  return {
    async load() {
      const d = await db;
      if (!d) return fallback.load();
      try {
        return await request(d.transaction("queue").objectStore("queue").getAll());
      } catch {
        return fallback.load();
      }
    },
    put: (e) => void write((s) => s.put(e), () => fallback.put(e)),
    remove: (ids) => void write((s) => ids.forEach((id) => s.delete(id)), () => fallback.remove(ids)),
  };
}

export function defaultStore(kv: KeyValue): QueueStore {
  if (g.indexedDB) return indexedDbStore(localStore(kv));
  if (g.localStorage) return localStore(kv);
  return memoryStore();
}
