// Small pure pieces of the feed: stamps and names, durations, the seeded PRNG.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/feed/random.js';
import { eventsFileName, freeSeq, parseDuration, runDirName, stampOf } from '../../src/feed/stamp.js';
import { testDir } from '../helpers/test-dir.js';

describe('stamps, names and durations', () => {
  it('stamps to the second in UTC, with zero-padded sequence numbers', () => {
    expect(stampOf(new Date('2026-11-22T08:15:00.987Z'))).toBe('20261122T081500Z');
    expect(eventsFileName('20261122T081500Z', 3)).toBe('events_20261122T081500Z_003.csv');
    expect(runDirName('20261122T081500Z', 1234)).toBe('run_20261122T081500Z_1234');
  });

  it('picks the next free sequence number across incoming, archive and the stream folder', () => {
    const a = testDir('seq');
    const b = testDir('seq');
    writeFileSync(path.join(a, 'events_20261122T081500Z_001.csv'), '');
    writeFileSync(path.join(b, 'events_20261122T081500Z_002.csv'), '');
    writeFileSync(path.join(a, '.events_20261122T081500Z_003.csv.tmp'), '');
    expect(freeSeq('20261122T081500Z', 1, [a, b])).toBe(4);
    expect(freeSeq('20261122T081501Z', 1, [a, b])).toBe(1);
  });

  it('parses durations', () => {
    expect(parseDuration('20s')).toBe(20_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('30')).toBe(30_000);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
    expect(() => parseDuration('0s')).toThrow(/above zero/);
  });
});

describe('Rng', () => {
  it('is a pure function of the seed (pinned values, so a change shows up as a diff)', () => {
    const r = new Rng(42);
    const first = [r.u32(), r.u32(), r.u32()];
    expect(first).toEqual([1028872839, 2516511472, 400437680]);
    const again = new Rng(42);
    expect([again.u32(), again.u32(), again.u32()]).toEqual(first);
    expect(new Rng(43).u32()).not.toBe(first[0]);
    expect(new Rng(2 ** 40 + 42).u32()).not.toBe(first[0]);
    expect(new Rng(-42).u32()).not.toBe(first[0]);
    expect(new Rng(42).fork('a').u32()).toBe(new Rng(42).fork('a').u32());
    expect(new Rng(42).fork('a').u32()).not.toBe(new Rng(42).fork('b').u32());
  });

  it('draws in range with plausible moments', () => {
    const r = new Rng(7);
    let sum = 0;
    let sq = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const x = r.normal(10, 2);
      sum += x;
      sq += x * x;
      const k = r.int(3, 5);
      expect(k >= 3 && k <= 5).toBe(true);
    }
    const mean = sum / n;
    expect(mean).toBeCloseTo(10, 1);
    expect(Math.sqrt(sq / n - mean * mean)).toBeCloseTo(2, 1);
    expect(r.uuidLike()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });
});
