/**
 * UUIDv7 (RFC 9562, section 5.7) for client-chosen message and command ids.
 *
 * Layout: 48-bit big-endian Unix milliseconds | ver=0111 | 12-bit rand_a |
 * var=10 | 62-bit rand_b. rand_a is used as a dedicated counter seeded at
 * random each millisecond (RFC 9562 section 6.2, method 1), so ids made by
 * one generator sort strictly in creation order, even within a millisecond
 * or if the wall clock steps backwards.
 */

export type RandomFill = (bytes: Uint8Array) => void;

const defaultFill: RandomFill = (bytes) => {
  crypto.getRandomValues(bytes);
};

export function createUuidV7Generator(now: () => number = Date.now, fill: RandomFill = defaultFill): () => string {
  let lastMs = -1;
  let counter = 0;
  const bytes = new Uint8Array(16);
  return () => {
    fill(bytes);
    let ms = Math.max(Math.floor(now()), 0);
    if (ms > lastMs) {
      counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!; // 11 random bits leave headroom
    } else {
      ms = lastMs;
      counter += 1;
      if (counter > 0xfff) {
        ms += 1; // counter exhausted: borrow the next millisecond
        counter = ((bytes[6]! & 0x07) << 8) | bytes[7]!;
      }
    }
    lastMs = ms;
    for (let i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    let hex = '';
    for (let i = 0; i < 16; i++) {
      hex += bytes[i]!.toString(16).padStart(2, '0');
      if (i === 3 || i === 5 || i === 7 || i === 9) hex += '-';
    }
    return hex;
  };
}

/** Process-wide generator. */
export const uuidv7: () => string = createUuidV7Generator();

export const UUID_V7_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Milliseconds since the Unix epoch encoded in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}
