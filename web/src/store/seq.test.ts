import { describe, expect, it } from 'vitest';
import { msg } from '../test/fixtures';
import { coverUpTo, findSeq, markSeqs, mergeMessages } from './seq';

describe('contiguous cursor', () => {
  it('advances over contiguous seqs only', () => {
    let c = { cursor: 0, ahead: [] as number[] };
    c = markSeqs(c, [1, 2]);
    expect(c).toEqual({ cursor: 2, ahead: [] });
    c = markSeqs(c, [5, 4]);
    expect(c).toEqual({ cursor: 2, ahead: [4, 5] });
    c = markSeqs(c, [3]);
    expect(c).toEqual({ cursor: 5, ahead: [] });
  });

  it('ignores duplicates and seqs at or below the cursor', () => {
    const c = { cursor: 3, ahead: [6] };
    expect(markSeqs(c, [1, 3])).toBe(c);
    expect(markSeqs(c, [6, 6])).toEqual({ cursor: 3, ahead: [6] });
  });

  it('a sync batch covers everything up to lastSeq', () => {
    expect(coverUpTo({ cursor: 2, ahead: [9, 12] }, 10)).toEqual({ cursor: 10, ahead: [12] });
    expect(coverUpTo({ cursor: 2, ahead: [11, 12] }, 10)).toEqual({ cursor: 12, ahead: [] });
    const same = { cursor: 7, ahead: [] };
    expect(coverUpTo(same, 5)).toBe(same);
  });
});

describe('mergeMessages', () => {
  it('keeps messages ordered by seq whatever the arrival order', () => {
    const out = mergeMessages([msg(2), msg(5)], [msg(4), msg(1), msg(7), msg(3)]);
    expect(out.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 7]);
  });

  it('dedupes by id and replaces with the newer version', () => {
    const edited = msg(2, { body: 'edited' });
    const out = mergeMessages([msg(1), msg(2), msg(3)], [edited, msg(3)]);
    expect(out.map((m) => m.seq)).toEqual([1, 2, 3]);
    expect(out[1]!.body).toBe('edited');
  });

  it('merges large out-of-order batches linearly', () => {
    const existing = Array.from({ length: 100 }, (_, i) => msg(i * 2 + 2));
    const incoming = Array.from({ length: 100 }, (_, i) => msg(199 - i * 2)).concat(msg(50));
    const out = mergeMessages(existing, incoming);
    expect(out).toHaveLength(200);
    expect(out.every((m, i) => m.seq === i + 1)).toBe(true);
  });

  it('appends without copying work when everything is newer', () => {
    const existing = [msg(1)];
    expect(mergeMessages(existing, [])).toBe(existing);
    expect(mergeMessages(existing, [msg(3), msg(2)]).map((m) => m.seq)).toEqual([1, 2, 3]);
  });

  it('finds seqs by binary search', () => {
    const arr = [msg(1), msg(3), msg(8)];
    expect(findSeq(arr, 3)).toBe(1);
    expect(findSeq(arr, 5)).toBe(-3);
  });
});
