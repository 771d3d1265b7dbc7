import { describe, expect, it } from 'vitest';
import { createUuidV7Generator, UUID_V7_PATTERN, uuidv7, uuidv7Timestamp } from './uuidv7';

describe('uuidv7', () => {
  it('has the RFC 9562 layout: version 7, variant 10', () => {
    for (let i = 0; i < 1000; i++) {
      const id = uuidv7();
      expect(id).toMatch(UUID_V7_PATTERN);
    }
  });

  it('encodes the current Unix time in milliseconds in the first 48 bits', () => {
    const gen = createUuidV7Generator(() => 1_700_000_000_123);
    const id = gen();
    expect(id.startsWith('018bcfe5')).toBe(true);
    expect(uuidv7Timestamp(id)).toBe(1_700_000_000_123);
  });

  it('sorts strictly in creation order within one millisecond', () => {
    const gen = createUuidV7Generator(() => 42);
    const ids = Array.from({ length: 5000 }, () => gen());
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(UUID_V7_PATTERN);
  });

  it('stays monotonic when the clock steps backwards', () => {
    let t = 10_000;
    const gen = createUuidV7Generator(() => t);
    const a = gen();
    t = 5_000;
    const b = gen();
    t = 10_001;
    const c = gen();
    expect(a < b).toBe(true);
    expect(b < c).toBe(true);
  });

  it('sorts in time order across milliseconds', () => {
    let t = 1_000;
    const gen = createUuidV7Generator(() => t++);
    const ids = Array.from({ length: 100 }, () => gen());
    expect([...ids].sort()).toEqual(ids);
  });

  it('is random in the remaining bits', () => {
    const gen = createUuidV7Generator(() => 1);
    const other = createUuidV7Generator(() => 1);
    expect(gen().slice(19)).not.toBe(other().slice(19));
  });
});
