import { describe, expect, it } from 'vitest';
import { createRetryBudget, resolveRetryBudget } from '../src/resilience/retry-budget.js';

function fakeClock(start = 0) {
  const clock = { time: start, now: () => clock.time };
  return clock;
}

describe('retry budget', () => {
  it('has the documented defaults: 20 %, 10 per second, over 10 s', () => {
    expect(resolveRetryBudget()).toEqual({ ratio: 0.2, minPerSecond: 10, window: 10000 });
    const budget = createRetryBudget(undefined, fakeClock());
    expect(budget.available).toBe(100);
  });

  it('lets a quiet service retry a few times per second however few requests it had', () => {
    const budget = createRetryBudget({ minPerSecond: 1, ratio: 0.2, window: 10_000 }, fakeClock());
    let granted = 0;
    for (let i = 0; i < 50; i++) if (budget.tryRetry()) granted++;
    expect(granted).toBe(10);
    expect(budget.available).toBe(0);
  });

  it('caps retries at the ratio of requests when the minimum is spent', () => {
    const clock = fakeClock();
    const budget = createRetryBudget({ minPerSecond: 0, ratio: 0.2 }, clock);
    for (let i = 0; i < 10; i++) budget.request();
    expect(budget.available).toBe(2);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    for (let i = 0; i < 5; i++) budget.request();
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
  });

  it('refills as old retries leave the sliding window', () => {
    const clock = fakeClock();
    const budget = createRetryBudget({ minPerSecond: 0.5, ratio: 0, window: 4000 }, clock);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(true);
    expect(budget.tryRetry()).toBe(false);
    clock.time = 3999;
    expect(budget.tryRetry()).toBe(false);
    clock.time = 4400;
    expect(budget.available).toBe(2);
    expect(budget.tryRetry()).toBe(true);
  });

  it('forgets requests that left the window too', () => {
    const clock = fakeClock();
    const budget = createRetryBudget({ minPerSecond: 0, ratio: 0.5, window: 1000 }, clock);
    for (let i = 0; i < 10; i++) budget.request();
    expect(budget.available).toBe(5);
    clock.time = 5000;
    expect(budget.available).toBe(0);
    expect(budget.tryRetry()).toBe(false);
  });

  it.each([
    [{ ratio: 1.5 }, /retry\.budget\.ratio must be a number from 0 to 1, such as 0\.2; got 1\.5/],
    [{ minPerSecond: -1 }, /retry\.budget\.minPerSecond must be a number >= 0, such as 10; got -1/],
    [{ window: 0 }, /retry\.budget\.window must be a positive number, such as 10000/],
    [{ ratios: 0.1 }, /retry\.budget has no option "ratios"\. Did you mean "ratio"\?/],
  ])('rejects %o', (options, message) => {
    expect(() => createRetryBudget(options as object)).toThrow(message);
  });
});
