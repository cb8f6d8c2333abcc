// Ids: time-ordered event ids (ULID: 48 bits of milliseconds, 80 random bits,
// Crockford base32, 26 characters, sortable as text) and random ids, from
// crypto.getRandomValues (browsers and Node 20 alike).

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

function random(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

export function eventId(now: number = Date.now()): string {
  let time = "";
  for (let i = 0, t = now; i < 10; i++, t = Math.floor(t / 32)) time = ALPHABET[t % 32] + time;
  let rest = "";
  for (const b of random(16)) rest += ALPHABET[b & 31];
  return time + rest;
}

export function randomId(prefix: string): string {
  let hex = "";
  for (const b of random(12)) hex += (b < 16 ? "0" : "") + b.toString(16);
  return prefix + hex;
}
