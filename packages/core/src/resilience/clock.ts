/**
 * Where the resilience modules read time and chance. Production uses the defaults; tests pass their own, so a
 * breaker can be opened, aged and half-opened without a real wait, and jitter is predictable.
 */
export interface Clock {
  /**
   * Milliseconds on a monotonic clock (never set back by NTP or the operator, unlike `Date.now()`).
   * @default performance.now
   */
  now?: () => number;
  /**
   * A number in [0, 1), the source of jitter.
   * @default Math.random
   */
  random?: () => number;
}

/** A clock with both sources filled in. */
export type ResolvedClock = Readonly<Required<Clock>>;

/** The real clock: `performance.now()` and `Math.random()`. */
const systemClock: ResolvedClock = Object.freeze({ now: () => performance.now(), random: Math.random });

/** Fills the missing sources of `clock` from the real one. */
export function resolveClock(clock: Clock = {}): ResolvedClock {
  if (clock.now === undefined && clock.random === undefined) return systemClock;
  return Object.freeze({ now: clock.now ?? systemClock.now, random: clock.random ?? systemClock.random });
}
