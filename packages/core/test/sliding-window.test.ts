import { describe, expect, it } from 'vitest';
import { SlidingWindow } from '../src/resilience/sliding-window.js';

describe('SlidingWindow', () => {
  it('sums the events of each key within the span', () => {
    const window = new SlidingWindow(['a', 'b'], 1000, 10);
    window.add('a', 0);
    window.add('a', 150, 2);
    window.add('b', 950);
    expect(window.total('a', 999)).toBe(3);
    expect(window.total('b', 999)).toBe(1);
  });

  it('forgets buckets as they leave the span, one slice at a time', () => {
    const window = new SlidingWindow(['a'], 1000, 10);
    window.add('a', 0);
    window.add('a', 500);
    expect(window.total('a', 999)).toBe(2);
    expect(window.total('a', 1000)).toBe(1); // the slice [0, 100) left
    expect(window.total('a', 1499)).toBe(1);
    expect(window.total('a', 1500)).toBe(0);
  });

  it('never sums stale counts after a quiet spell longer than the span', () => {
    const window = new SlidingWindow(['a'], 1000, 10);
    for (let t = 0; t < 1000; t += 100) window.add('a', t, 5);
    expect(window.total('a', 999)).toBe(50);
    // Ten spans later one event lands in one bucket; the other nine still hold old slices and must not count.
    window.add('a', 10_050);
    expect(window.total('a', 10_050)).toBe(1);
  });

  it('reuses a bucket when the ring comes round, dropping its old count', () => {
    const window = new SlidingWindow(['a'], 1000, 10);
    window.add('a', 50, 7);
    window.add('a', 1050);
    expect(window.total('a', 1050)).toBe(1);
  });

  it('clears', () => {
    const window = new SlidingWindow(['a'], 1000);
    window.add('a', 10);
    window.clear();
    expect(window.total('a', 10)).toBe(0);
  });
});
