/**
 * Retry-After (RFC 9110 §10.2.3): parsing what an upstream sent, and deciding what we send.
 *
 * We always emit delay-seconds, never an HTTP-date: a delay does not depend on the client's clock.
 */

import { configError } from '../config/config-error.js';

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
   * What we send with a 502, 503 or 504 when nothing better is known (no breaker, maintenance window or upstream
   * value): a short hint that the failure is temporary. Must lie between `min` and `max` when given; the default is
   * clamped into them.
   * @default 5
   */
  hint?: number;
}

/** A validated, complete policy. */
export type ResolvedRetryAfterPolicy = Readonly<Required<RetryAfterPolicy>>;

/** The documented defaults. */
export const defaultRetryAfterPolicy: ResolvedRetryAfterPolicy = Object.freeze({ min: 1, max: 86400, hint: 5 });

const policyKeys = ['min', 'max', 'hint'] as const;

/**
 * Validates a policy once, at construction, and fills the defaults; the message names the fix.
 * @example resolveRetryAfterPolicy({ max: 600 }) // { min: 1, max: 600, hint: 5 }
 */
export function resolveRetryAfterPolicy(policy: RetryAfterPolicy = {}): ResolvedRetryAfterPolicy {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `retryAfter takes a policy object such as { min: 1, max: 86400, hint: 5 }, got ${policy === null ? 'null' : typeof policy}.`,
    );
  }
  for (const key of Object.keys(policy)) {
    if (!(policyKeys as readonly string[]).includes(key)) {
      throw configError(
        'GATEWAY_ERRORS_UNKNOWN_OPTION',
        `retryAfter has no option "${key}". Known options: ${policyKeys.join(', ')}.`,
      );
    }
  }
  const resolved = { ...defaultRetryAfterPolicy };
  for (const key of policyKeys) {
    const value = policy[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `retryAfter.${key} must be a whole number of seconds, 0 or more, got ${describe(value)}.`,
      );
    }
    resolved[key] = value;
  }
  if (resolved.min > resolved.max) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `retryAfter.min (${resolved.min}) is larger than retryAfter.max (${resolved.max}); lower min or raise max.`,
      { kind: RangeError },
    );
  }
  if (policy.hint === undefined) {
    resolved.hint = Math.min(resolved.max, Math.max(resolved.min, resolved.hint));
  } else if (resolved.hint < resolved.min || resolved.hint > resolved.max) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `retryAfter.hint (${resolved.hint}) must lie between retryAfter.min (${resolved.min}) and retryAfter.max (${resolved.max}).`,
      { kind: RangeError },
    );
  }
  return Object.freeze(resolved);
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * The whole seconds we send for a delay of `seconds`: rounded up (waiting a little longer is harmless, retrying early
 * is not), never negative, clamped into the policy's range. A value that is not a number (NaN) gets the hint.
 */
export function clampRetryAfter(seconds: number, policy: ResolvedRetryAfterPolicy): number {
  const wanted = Number.isNaN(seconds) ? policy.hint : Math.ceil(seconds);
  return Math.min(policy.max, Math.max(policy.min, wanted));
}

// RFC 9110 §10.2.3: Retry-After = HTTP-date / delay-seconds; delay-seconds = 1*DIGIT.
const delaySeconds = /^[0-9]+$/;

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const monthName = months.join('|');
const time = '([0-9]{2}):([0-9]{2}):([0-9]{2})';
// RFC 9110 §5.6.7. The names are case-sensitive; the weekday is required but, as the RFC allows, not cross-checked.
const imfFixdate = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) (${monthName}) ([0-9]{4}) ${time} GMT$`);
const rfc850Date = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), ([0-9]{2})-(${monthName})-([0-9]{2}) ${time} GMT$`,
);
const asctimeDate = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${monthName}) ([0-9 ][0-9]) ${time} ([0-9]{4})$`);

/**
 * Parses an HTTP-date (RFC 9110 §5.6.7) in any of its three forms, IMF-fixdate
 * (`Sun, 06 Nov 1994 08:49:37 GMT`) and the obsolete RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime
 * (`Sun Nov  6 08:49:37 1994`), into milliseconds since the epoch; `undefined` for anything else, including the
 * looser forms `Date.parse` would accept (`2024-01-01`, `tomorrow`, a date without a weekday or without GMT).
 */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  const parts = dateParts(value, now);
  if (parts === undefined) return undefined;
  const { year, month, day, hour, minute, second } = parts;
  const monthIndex = months.indexOf(month);
  // A leap second (23:59:60) is allowed and lands on the next second; 31 Feb or 25:00 are not dates.
  if (hour > 23 || minute > 59 || second > 60 || day < 1) return undefined;
  const check = new Date(Date.UTC(year, monthIndex, day));
  if (check.getUTCMonth() !== monthIndex || check.getUTCDate() !== day) return undefined;
  return Date.UTC(year, monthIndex, day, hour, minute, second);
}

interface DateParts {
  year: number;
  month: string;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** The fields of whichever of the three forms `value` is in. */
function dateParts(value: string, now: number): DateParts | undefined {
  const clock = (match: RegExpExecArray, from: number) => ({
    hour: Number(match[from]),
    minute: Number(match[from + 1]),
    second: Number(match[from + 2]),
  });
  const imf = imfFixdate.exec(value);
  if (imf !== null) {
    return { day: Number(imf[1]), month: imf[2] as string, year: Number(imf[3]), ...clock(imf, 4) };
  }
  const rfc850 = rfc850Date.exec(value);
  if (rfc850 !== null) {
    // RFC 9110 §5.6.7: a two-digit year that appears more than 50 years in the future is the most recent past year
    // with the same last two digits.
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(rfc850[3]);
    if (year > thisYear + 50) year -= 100;
    return { day: Number(rfc850[1]), month: rfc850[2] as string, year, ...clock(rfc850, 4) };
  }
  const asctime = asctimeDate.exec(value);
  if (asctime !== null) {
    return {
      month: asctime[1] as string,
      day: Number(asctime[2]?.trim()),
      year: Number(asctime[6]),
      ...clock(asctime, 3),
    };
  }
  return undefined;
}

/**
 * Parses an upstream's Retry-After into whole seconds from now, or `undefined` when it is not one valid value, so
 * that it is dropped, never copied into a header or a timer.
 *
 * Accepts delay-seconds (digits only: no sign, no fraction, no unit; larger than `Number.MAX_SAFE_INTEGER` is
 * refused as garbage) and an HTTP-date in any of its three forms (see {@link parseHttpDate}). A date is taken
 * relative to the response's own `Date` header when that is a valid HTTP-date, so a skewed upstream clock does not
 * shift the delay (RFC 9110 §10.2.3 defines the date as a point in the sender's time). A date in the past means 0.
 * Two values (a repeated header, or a comma-joined one) are ambiguous and refused.
 * @example parseRetryAfter('120') // 120
 * @example parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', 'Wed, 21 Oct 2015 07:28:00 GMT') // 10
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  responseDate?: string | readonly string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  if (typeof value !== 'string') return undefined;
  // RFC 9110 §5.5: a field value may carry optional whitespace around it, and nothing else.
  const text = value.replace(/^[ \t]+|[ \t]+$/g, '');
  if (delaySeconds.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds : undefined;
  }
  const at = parseHttpDate(text, now);
  if (at === undefined) return undefined;
  const sent = typeof responseDate === 'string' ? parseHttpDate(responseDate.trim(), now) : undefined;
  return Math.max(0, Math.ceil((at - (sent ?? now)) / 1000));
}

/**
 * The seconds a response's Retry-After carries for a failure: the real state when known, else the hint for 502, 503
 * and 504, else none.
 */
export function retryAfterFor(
  failure: { readonly status: number; readonly retryAfter?: number | undefined },
  policy: ResolvedRetryAfterPolicy,
): number | undefined {
  if (failure.retryAfter !== undefined) return clampRetryAfter(failure.retryAfter, policy);
  return failure.status >= 502 && failure.status <= 504 ? clampRetryAfter(policy.hint, policy) : undefined;
}
