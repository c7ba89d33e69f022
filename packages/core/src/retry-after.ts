/**
 * Retry-After (RFC 9110 §10.2.3): parsing what an upstream sent, and deciding what we send.
 *
 * We always emit delay-seconds, never an HTTP-date: a delay does not depend on the client's clock.
 */

/** The Retry-After policy. */
export interface RetryAfterPolicy {
  /**
   * The smallest value we send, in seconds.
   * @default 1
   */
  min?: number;
  /**
   * The largest value we send, in seconds; longer states (a day-long maintenance window, an upstream asking for a
   * week) are sent as this.
   * @default 86400 (one day)
   */
  max?: number;
  /**
   * What we send with a 502 or 504, when nothing better is known: a short hint that the failure is temporary.
   * @default 5
   */
  hint?: number;
}

/** A validated, complete policy. */
export type ResolvedRetryAfterPolicy = Readonly<Required<RetryAfterPolicy>>;

/** The documented defaults. */
export const defaultRetryAfterPolicy: ResolvedRetryAfterPolicy = Object.freeze({ min: 1, max: 86400, hint: 5 });

/** Validates a policy once, at construction; the message names the fix. */
export function resolveRetryAfterPolicy(policy: RetryAfterPolicy = {}): ResolvedRetryAfterPolicy {
  const resolved = { ...defaultRetryAfterPolicy };
  for (const key of ['min', 'max', 'hint'] as const) {
    const value = policy[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 0) {
      throw new TypeError(`gateway-errors: retryAfter.${key} must be a whole number of seconds >= 0, got ${value}.`);
    }
    resolved[key] = value;
  }
  if (resolved.min > resolved.max) {
    throw new RangeError(
      `gateway-errors: retryAfter.min (${resolved.min}) is larger than retryAfter.max (${resolved.max}).`,
    );
  }
  return Object.freeze(resolved);
}

/** Rounds up to whole seconds and clamps into the policy's range. */
export function clampRetryAfter(seconds: number, policy: ResolvedRetryAfterPolicy): number {
  if (!Number.isFinite(seconds)) return policy.max;
  return Math.min(policy.max, Math.max(policy.min, Math.ceil(seconds)));
}

const delaySeconds = /^\d+$/;

/**
 * Parses an upstream's Retry-After into whole seconds from now, or `undefined` when it is not a valid value.
 * Accepts delay-seconds and an HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime forms that
 * `Date.parse` reads). A date is taken relative to the response's own `Date` header when one is given, so a skewed
 * upstream clock does not shift the delay. A date in the past means "now" (0).
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  responseDate?: string | undefined,
  now: number = Date.now(),
): number | undefined {
  if (typeof value !== 'string') return undefined; // absent, or sent twice: ambiguous, so dropped
  const text = value.trim();
  if (delaySeconds.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds : undefined;
  }
  // An HTTP-date names a weekday and GMT; refuse looser forms Date.parse would otherwise accept ("5", "tomorrow").
  if (!/^[A-Za-z]{3,9}, /.test(text) && !/^[A-Za-z]{3} [A-Za-z]{3} /.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  const sent = responseDate === undefined ? Number.NaN : Date.parse(responseDate);
  const reference = Number.isNaN(sent) ? now : sent;
  return Math.max(0, Math.ceil((at - reference) / 1000));
}
