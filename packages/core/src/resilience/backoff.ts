import { setTimeout as delay } from 'node:timers/promises';
import { checkOptions, positiveNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';

/** When to send a retry. All durations in milliseconds. */
export interface BackoffOptions {
  /**
   * The ceiling of the wait before the first retry; the ceiling doubles with each further retry.
   * @default 100
   */
  base?: number;
  /**
   * The largest ceiling, however many retries came before.
   * @default 2000
   */
  cap?: number;
  /**
   * The longest Retry-After of an upstream's own 503 or 429 that the proxy waits out itself before it retries. A
   * longer one (or one that does not fit in the remaining deadline) ends the request with the upstream's answer and
   * its Retry-After, so the client waits instead of us.
   * @default 5000
   */
  maxRetryAfter?: number;
}

/** Validated backoff settings. */
export type ResolvedBackoff = Readonly<Required<BackoffOptions>>;

/** The documented defaults. */
export const defaultBackoff: ResolvedBackoff = Object.freeze({ base: 100, cap: 2000, maxRetryAfter: 5000 });

/** Validates backoff options once, fills the defaults and freezes the result. */
export function resolveBackoff(options: BackoffOptions = {}, where = 'retry.backoff'): ResolvedBackoff {
  checkOptions(options, Object.keys(defaultBackoff), `gatewayProxy() ${where}`);
  const base = positiveNumber(options.base ?? defaultBackoff.base, `${where}.base`, '100 (milliseconds)');
  const cap = positiveNumber(options.cap ?? defaultBackoff.cap, `${where}.cap`, '2000 (milliseconds)');
  if (cap < base) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `${where}.cap (${cap}) is smaller than ${where}.base (${base}); raise cap.`,
      { kind: RangeError },
    );
  }
  const maxRetryAfter = options.maxRetryAfter ?? defaultBackoff.maxRetryAfter;
  if (maxRetryAfter !== 0) positiveNumber(maxRetryAfter, `${where}.maxRetryAfter`, '5000 (milliseconds), or 0');
  return Object.freeze({ base, cap, maxRetryAfter });
}

/**
 * The wait before the retry that follows failed attempt number `attempt` (1 for the first attempt): AWS's "full
 * jitter", a random time between 0 and `min(cap, base * 2^(attempt - 1))`. Spreading retries over the whole range
 * keeps clients that failed together from retrying together
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export function backoffDelay(attempt: number, backoff: ResolvedBackoff, random: () => number = Math.random): number {
  const ceiling = Math.min(backoff.cap, backoff.base * 2 ** Math.max(0, attempt - 1));
  return random() * ceiling;
}

/** What {@link retryDelay} needs to know about the failed attempt. */
export interface RetryTiming {
  /** The attempt that failed: 1 for the first. */
  attempt: number;
  /** Milliseconds left before the overall deadline (`Infinity` without one). */
  remaining: number;
  /**
   * The upstream's own Retry-After in seconds, already validated (`parseRetryAfter`), when the failed attempt was an
   * answer that carried one (an intercepted 503 or 429).
   */
  retryAfter?: number | undefined;
}

/**
 * How long to wait before retrying, in milliseconds, or `undefined` when the retry must not be sent because the
 * wait does not fit. Pure: the caller has already decided that the request is safe to repeat and within budget.
 *
 * An upstream that said when to come back is believed (RFC 9110 §10.2.3), but only when that wait is at most
 * `maxRetryAfter` and ends before the deadline; otherwise its answer goes to the client with its Retry-After. With
 * no Retry-After, the wait is {@link backoffDelay}, and it too must end before the deadline.
 * @example
 * const wait = retryDelay({ attempt, remaining: deadlineAt - performance.now(), retryAfter }, backoff);
 * if (wait !== undefined && (await sleep(wait, signal))) continue; // retry
 */
export function retryDelay(
  timing: RetryTiming,
  backoff: ResolvedBackoff,
  random: () => number = Math.random,
): number | undefined {
  const wait =
    timing.retryAfter === undefined ? backoffDelay(timing.attempt, backoff, random) : timing.retryAfter * 1000;
  if (timing.retryAfter !== undefined && wait > backoff.maxRetryAfter) return undefined;
  return wait < timing.remaining ? wait : undefined;
}

/**
 * Waits `ms` milliseconds, or less if `signal` aborts (the client went away). Resolves `true` when the full wait
 * passed, `false` when it was cut short. The timer does not keep the process alive.
 */
export async function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  if (ms <= 0) return true;
  try {
    await delay(ms, undefined, { signal, ref: false });
    return true;
  } catch {
    return false;
  }
}
