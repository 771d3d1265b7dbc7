/**
 * Pure helpers on seq-ordered data: the contiguous cursor and the merge of
 * messages into an ascending array. Written to stay cheap with tens of
 * thousands of loaded messages (binary search, linear merge, append fast path).
 */
import type { Message } from '../sdk/types';

export interface CursorState {
  cursor: number;
  ahead: number[];
}

/** Records seqs as seen and advances the cursor over every contiguous run. */
export function markSeqs(state: CursorState, seqs: Iterable<number>): CursorState {
  let cursor = state.cursor;
  let ahead: number[] | null = null;
  for (const s of seqs) {
    if (!Number.isInteger(s) || s <= cursor) continue;
    if (s === cursor + 1) {
      cursor = s;
      continue;
    }
    ahead ??= [...state.ahead];
    insertSortedUnique(ahead, s);
  }
  let rest = ahead ?? state.ahead;
  // absorb runs that have become contiguous
  let i = 0;
  while (i < rest.length && rest[i]! <= cursor + 1) {
    cursor = Math.max(cursor, rest[i]!);
    i++;
  }
  if (i > 0) rest = rest.slice(i);
  if (cursor === state.cursor && rest === state.ahead) return state;
  return { cursor, ahead: rest };
}

/** A sync batch covers every seq up to `lastSeq`: the cursor moves there. */
export function coverUpTo(state: CursorState, lastSeq: number): CursorState {
  if (lastSeq <= state.cursor) return state;
  return markSeqs({ cursor: lastSeq, ahead: state.ahead.filter((s) => s > lastSeq) }, []);
}

function insertSortedUnique(arr: number[], v: number): void {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  if (arr[lo] !== v) arr.splice(lo, 0, v);
}

/** Index of the message with this seq, or -(insertion point) - 1. */
export function findSeq(messages: readonly Message[], seq: number): number {
  let lo = 0;
  let hi = messages.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = messages[mid]!.seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/**
 * Merges messages into an ascending array. A message already present (same
 * seq, which is the same id) is replaced by the incoming version. Returns the
 * same array when nothing changed.
 */
export function mergeMessages(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[];
  // dedupe incoming by id, keeping the last version, then order by seq
  const byId = new Map<string, Message>();
  for (const m of incoming) byId.set(m.id, m);
  const sorted = [...byId.values()].sort((a, b) => a.seq - b.seq);
  const last = existing[existing.length - 1];
  if (!last || sorted[0]!.seq > last.seq) return existing.concat(sorted);
  if (sorted.length <= 8) {
    let out: Message[] | null = null;
    for (const m of sorted) {
      const arr: readonly Message[] = out ?? existing;
      const idx = findSeq(arr, m.seq);
      if (idx >= 0 && arr[idx] === m) continue;
      out ??= existing.slice();
      if (idx >= 0) out[idx] = m;
      else out.splice(-idx - 1, 0, m);
    }
    return out ?? (existing as Message[]);
  }
  const out: Message[] = [];
  let i = 0;
  let j = 0;
  while (i < existing.length || j < sorted.length) {
    const a = existing[i];
    const b = sorted[j];
    if (b === undefined || (a !== undefined && a.seq < b.seq)) {
      out.push(a!);
      i++;
    } else if (a === undefined || b.seq < a.seq) {
      out.push(b);
      j++;
    } else {
      out.push(b);
      i++;
      j++;
    }
  }
  return out;
}

/** Replaces one message found by id (searching from the newest end). */
export function replaceById(
  messages: readonly Message[],
  id: string,
  update: (m: Message) => Message,
): Message[] | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]!.id === id) {
      const next = update(messages[i]!);
      if (next === messages[i]) return messages as Message[];
      const out = messages.slice();
      out[i] = next;
      return out;
    }
  }
  return null;
}
