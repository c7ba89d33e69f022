import { describe, expect, it } from 'vitest';
import { backoffDelay, defaultBackoff, resolveBackoff, retryDelay, sleep } from '../src/resilience/backoff.js';

describe('resolveBackoff', () => {
  it('fills the documented defaults and freezes them', () => {
    const backoff = resolveBackoff();
    expect(backoff).toEqual({ base: 100, cap: 2000, maxRetryAfter: 5000 });
    expect(Object.isFrozen(backoff)).toBe(true);
    expect(resolveBackoff({ base: 50 })).toEqual({ base: 50, cap: 2000, maxRetryAfter: 5000 });
  });

  it.each([
    [{ base: 0 }, /retry\.backoff\.base must be a positive number, such as 100/],
    [{ cap: Number.NaN }, /retry\.backoff\.cap must be a positive number/],
    [{ base: 500, cap: 100 }, /cap \(100\) is smaller than retry\.backoff\.base \(500\); raise cap/],
    [{ maxRetryAfter: -1 }, /maxRetryAfter must be a positive number, such as 5000 \(milliseconds\), or 0/],
    [{ bsae: 10 }, /has no option "bsae"\. Did you mean "base"\?/],
  ])('rejects %o with a message that names the fix', (options, message) => {
    expect(() => resolveBackoff(options as object)).toThrow(message);
  });

  it('accepts maxRetryAfter 0 (never wait out an upstream Retry-After)', () => {
    expect(resolveBackoff({ maxRetryAfter: 0 }).maxRetryAfter).toBe(0);
  });
});

describe('backoffDelay (full jitter)', () => {
  const backoff = resolveBackoff({ base: 100, cap: 1000 });

  it.each([
    [1, 100],
    [2, 200],
    [3, 400],
    [4, 800],
    [5, 1000],
    [30, 1000],
  ])('after attempt %i the ceiling is %i ms', (attempt, ceiling) => {
    expect(backoffDelay(attempt, backoff, () => 0)).toBe(0);
    expect(backoffDelay(attempt, backoff, () => 0.5)).toBe(ceiling / 2);
    expect(backoffDelay(attempt, backoff, () => 0.999999)).toBeCloseTo(ceiling, 2);
  });

  it('stays within [0, ceiling) with the real random source', () => {
    for (let i = 0; i < 1000; i++) {
      const wait = backoffDelay(3, backoff);
      expect(wait).toBeGreaterThanOrEqual(0);
      expect(wait).toBeLessThan(400);
    }
  });
});

describe('retryDelay', () => {
  const backoff = defaultBackoff;
  const half = () => 0.5;

  it('uses the jittered backoff when the upstream gave no Retry-After', () => {
    expect(retryDelay({ attempt: 1, remaining: Number.POSITIVE_INFINITY }, backoff, half)).toBe(50);
    expect(retryDelay({ attempt: 2, remaining: 1000 }, backoff, half)).toBe(100);
  });

  it('refuses a retry whose wait does not end before the deadline', () => {
    expect(retryDelay({ attempt: 1, remaining: 50 }, backoff, half)).toBeUndefined();
    expect(retryDelay({ attempt: 1, remaining: 0 }, backoff, () => 0)).toBeUndefined();
    expect(retryDelay({ attempt: 1, remaining: 51 }, backoff, half)).toBe(50);
  });

  it('honours an upstream Retry-After that fits in the deadline and under maxRetryAfter', () => {
    expect(retryDelay({ attempt: 1, remaining: 10_000, retryAfter: 2 }, backoff, half)).toBe(2000);
    expect(retryDelay({ attempt: 1, remaining: Number.POSITIVE_INFINITY, retryAfter: 5 }, backoff, half)).toBe(5000);
    expect(retryDelay({ attempt: 1, remaining: 10_000, retryAfter: 0 }, backoff, half)).toBe(0);
  });

  it('passes the answer through when the upstream asks for longer than the deadline or maxRetryAfter', () => {
    expect(retryDelay({ attempt: 1, remaining: 1500, retryAfter: 2 }, backoff, half)).toBeUndefined();
    expect(retryDelay({ attempt: 1, remaining: 60_000, retryAfter: 6 }, backoff, half)).toBeUndefined();
    expect(
      retryDelay({ attempt: 1, remaining: 60_000, retryAfter: 1 }, resolveBackoff({ maxRetryAfter: 0 }), half),
    ).toBe(undefined);
  });
});

describe('sleep', () => {
  it('resolves true after the wait', async () => {
    expect(await sleep(5)).toBe(true);
    expect(await sleep(0)).toBe(true);
  });

  it('resolves false at once when the signal already aborted', async () => {
    expect(await sleep(60_000, AbortSignal.abort())).toBe(false);
  });

  it('resolves false when the signal aborts during the wait', async () => {
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    setTimeout(() => controller.abort(), 5);
    expect(await waiting).toBe(false);
  });
});
