import { checkOptions, positiveNumber, wholeNumber } from '../config/checks.js';
import { failureOf, type GatewayFailure } from '../failure/failure.js';

/** A limit on requests in flight to one upstream, with a small queue. */
export interface ConcurrencyOptions {
  /**
   * Requests in flight at once.
   * @default 100
   */
  max?: number;
  /**
   * Requests that may wait for a free slot. Past it, the answer is 503 at once: a long queue only turns overload
   * into timeouts.
   * @default 10
   */
  queue?: number;
  /**
   * The longest wait in the queue, in milliseconds; then 503.
   * @default 1000
   */
  queueTimeout?: number;
  /**
   * The Retry-After sent with the 503, in seconds: overload is usually short.
   * @default 1
   */
  retryAfter?: number;
}

/** Validated limiter settings. */
export type ResolvedConcurrencyOptions = Readonly<Required<ConcurrencyOptions>>;

/** The documented defaults. */
const defaultConcurrency: ResolvedConcurrencyOptions = Object.freeze({
  max: 100,
  queue: 10,
  queueTimeout: 1000,
  retryAfter: 1,
});

/** Validates limiter options once, fills the defaults and freezes the result. */
export function resolveConcurrency(options: ConcurrencyOptions = {}): ResolvedConcurrencyOptions {
  checkOptions(options, Object.keys(defaultConcurrency), 'gatewayProxy() concurrency');
  const d = defaultConcurrency;
  return Object.freeze({
    max: wholeNumber(options.max ?? d.max, 'concurrency.max', 1, 1e6),
    queue: wholeNumber(options.queue ?? d.queue, 'concurrency.queue', 0, 1e5),
    queueTimeout: positiveNumber(options.queueTimeout ?? d.queueTimeout, 'concurrency.queueTimeout', '1000'),
    retryAfter: wholeNumber(options.retryAfter ?? d.retryAfter, 'concurrency.retryAfter', 1, 86400),
  });
}

/** The answer to {@link ConcurrencyLimiter.acquire}. */
export type Admission =
  | {
      readonly admitted: true;
      /** Gives the slot back. Call it once when the attempt is over, whatever happened; later calls do nothing. */
      readonly release: () => void;
    }
  | {
      readonly admitted: false;
      /** 503 connection_limit_reached with Retry-After. (When your signal aborted, answer nothing instead.) */
      readonly failure: GatewayFailure;
    };

/** A counting semaphore with a bounded FIFO queue. */
export interface ConcurrencyLimiter {
  /**
   * Waits for a slot: admitted at once when one is free, after a wait in the queue, or not admitted when the queue
   * is full, the wait timed out, or `signal` aborted (the client went away; nothing is left queued).
   */
  acquire(signal?: AbortSignal): Promise<Admission>;
  /** Slots in use. */
  readonly inFlight: number;
  /** Requests waiting. */
  readonly queued: number;
}

interface Waiter {
  admit(): void;
}

class Semaphore implements ConcurrencyLimiter {
  readonly #options: ResolvedConcurrencyOptions;
  readonly #waiting: Waiter[] = [];
  #inFlight = 0;

  constructor(options: ResolvedConcurrencyOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  acquire(signal?: AbortSignal): Promise<Admission> {
    if (signal?.aborted) return Promise.resolve(this.#refused());
    if (this.#inFlight < this.#options.max) {
      this.#inFlight++;
      return Promise.resolve(this.#admitted());
    }
    if (this.#waiting.length >= this.#options.queue) return Promise.resolve(this.#refused());
    return new Promise<Admission>((resolve) => {
      const leave = () => {
        const index = this.#waiting.indexOf(waiter);
        if (index !== -1) this.#waiting.splice(index, 1);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        leave();
        resolve(this.#refused());
      };
      const waiter: Waiter = {
        admit: () => {
          leave();
          resolve(this.#admitted());
        },
      };
      // unref: a request waiting here holds its own socket open; the timer must not hold the process.
      const timer = setTimeout(onAbort, this.#options.queueTimeout).unref();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #admitted(): Admission {
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        // The slot passes straight to the first waiter, so in-flight never drops below max while some wait.
        const next = this.#waiting[0];
        if (next === undefined) this.#inFlight--;
        else next.admit();
      },
    };
  }

  #refused(): Admission {
    return {
      admitted: false,
      failure: failureOf('connection_limit_reached', { retryAfter: this.#options.retryAfter }),
    };
  }
}

/**
 * Creates a concurrency limiter for one upstream.
 * @example
 * const limiter = createLimiter({ max: 50, queue: 10, queueTimeout: 1000 });
 * const admission = await limiter.acquire(signal);
 * if (!admission.admitted) return errorOf(admission.failure); // 503 connection_limit_reached
 * try { await forward(); } finally { admission.release(); }
 */
export function createLimiter(options?: ConcurrencyOptions): ConcurrencyLimiter {
  return new Semaphore(resolveConcurrency(options));
}
