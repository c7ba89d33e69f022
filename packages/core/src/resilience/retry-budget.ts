import { checkOptions, fraction, positiveNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { type Clock, resolveClock } from './clock.js';
import { SlidingWindow } from './sliding-window.js';

/**
 * A retry budget: retries may add at most a share of the requests seen over a sliding window, plus a small steady
 * allowance so that a quiet service can still retry. When an upstream is down, retries stop at that share instead
 * of multiplying the load on it. The defaults are Finagle's and Linkerd's (20 %, 10 per second, 10 s).
 */
export interface RetryBudgetOptions {
  /**
   * Retries allowed as a share of the requests in the window.
   * @default 0.2
   */
  ratio?: number;
  /**
   * Retries allowed per second of the window whatever the traffic.
   * @default 10
   */
  minPerSecond?: number;
  /**
   * The sliding window, in milliseconds.
   * @default 10000
   */
  window?: number;
}

/** Validated budget settings. */
export type ResolvedRetryBudgetOptions = Readonly<Required<RetryBudgetOptions>>;

/** The documented defaults. */
const defaultRetryBudget: ResolvedRetryBudgetOptions = Object.freeze({
  ratio: 0.2,
  minPerSecond: 10,
  window: 10000,
});

/** Validates budget options once, fills the defaults and freezes the result. */
export function resolveRetryBudget(options: RetryBudgetOptions = {}): ResolvedRetryBudgetOptions {
  checkOptions(options, Object.keys(defaultRetryBudget), 'gatewayProxy() retry.budget');
  const minPerSecond = options.minPerSecond ?? defaultRetryBudget.minPerSecond;
  if (typeof minPerSecond !== 'number' || !Number.isFinite(minPerSecond) || minPerSecond < 0) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `retry.budget.minPerSecond must be a number >= 0, such as 10; got ${String(minPerSecond)}.`,
    );
  }
  return Object.freeze({
    ratio: fraction(options.ratio ?? defaultRetryBudget.ratio, 'retry.budget.ratio', true),
    minPerSecond,
    window: positiveNumber(options.window ?? defaultRetryBudget.window, 'retry.budget.window', '10000 (milliseconds)'),
  });
}

/** One budget per proxy: every request deposits, every retry withdraws. */
export interface RetryBudget {
  /** Counts one incoming request. Call it once per request, not once per attempt. */
  request(): void;
  /** Takes one retry from the budget: `true` (and counted) when it fits, `false` when retries are used up. */
  tryRetry(): boolean;
  /** Whole retries the budget allows right now. */
  readonly available: number;
}

class SlidingRetryBudget implements RetryBudget {
  readonly #options: ResolvedRetryBudgetOptions;
  readonly #now: () => number;
  readonly #window: SlidingWindow<'requests' | 'retries'>;

  constructor(options: ResolvedRetryBudgetOptions, now: () => number) {
    this.#options = options;
    this.#now = now;
    this.#window = new SlidingWindow(['requests', 'retries'], options.window);
  }

  request(): void {
    this.#window.add('requests', this.#now());
  }

  tryRetry(): boolean {
    const now = this.#now();
    if (this.#allowance(now) < 1) return false;
    this.#window.add('retries', now);
    return true;
  }

  get available(): number {
    return Math.max(0, Math.floor(this.#allowance(this.#now())));
  }

  #allowance(now: number): number {
    const { ratio, minPerSecond, window } = this.#options;
    const allowed = (minPerSecond * window) / 1000 + ratio * this.#window.total('requests', now);
    return allowed - this.#window.total('retries', now);
  }
}

/**
 * Creates a retry budget. `clock` is for tests.
 * @example
 * const budget = createRetryBudget();
 * budget.request();                      // when a request arrives
 * if (safe && budget.tryRetry()) retry(); // before each retry
 */
export function createRetryBudget(options?: RetryBudgetOptions, clock?: Clock): RetryBudget {
  return new SlidingRetryBudget(resolveRetryBudget(options), resolveClock(clock).now);
}
