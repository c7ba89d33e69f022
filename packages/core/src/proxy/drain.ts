import type { ServerResponse } from 'node:http';
import { checkOptions, wholeNumber } from '../config/checks.js';
import { failureOf, type GatewayFailure } from '../failure/failure.js';
import type { TunnelsGone } from './engine.js';

/** Options of `proxy.drain()`. */
export interface DrainOptions {
  /**
   * The longest wait for the requests in flight, in milliseconds. Those still running then are cut (their client
   * connections destroyed: the client sees a reset, or an answer cut short), and so are WebSocket tunnels that found
   * no frame boundary to close at. Keep it below your orchestrator's grace period (Kubernetes: 30 s by default).
   * @default 25000
   */
  deadline?: number;
  /**
   * The Retry-After, in seconds, of the 503 answered to requests that arrive while the proxy drains: a client, or the
   * load balancer in front, tries again (elsewhere) that much later. The error responder's `retryAfter` range applies.
   * @default 1
   */
  retryAfter?: number;
}

/** What a drain did. */
export interface DrainResult {
  /** The requests in flight when the drain began (WebSocket handshakes until their upstream answered included). */
  readonly requests: {
    /** Finished before the deadline. */
    readonly finished: number;
    /** Cut at the deadline. */
    readonly cut: number;
  };
  /** The WebSocket tunnels open during the drain. */
  readonly tunnels: TunnelsGone;
}

/** Drain options, checked and filled. */
export interface ResolvedDrainOptions {
  readonly deadline: number;
  readonly retryAfter: number;
}

/** Checks the options of one `drain()` call (it is called once, at shutdown), with messages that name the fix. */
export function resolveDrainOptions(options: DrainOptions = {}): ResolvedDrainOptions {
  checkOptions(options, ['deadline', 'retryAfter'], 'proxy.drain()');
  return Object.freeze({
    deadline: wholeNumber(options.deadline ?? 25000, 'drain deadline (milliseconds)', 0, 2 ** 31 - 1),
    retryAfter: wholeNumber(options.retryAfter ?? 1, 'drain retryAfter (seconds)', 0, 86400),
  });
}

/**
 * The answer to a request that reaches a draining proxy: 503 `proxy_internal_response` (RFC 9209 §2.3.29: the
 * intermediary answered by itself, without trying the next hop; the taxonomy's row for planned maintenance, which a
 * deploy is), with the drain's Retry-After. The upstream never saw it, so any method may be sent again, elsewhere.
 */
export function drainingFailure(retryAfter: number): GatewayFailure {
  return failureOf('proxy_internal_response', { retryAfter });
}

/**
 * The requests a proxy has in flight (from `forward()` until it settles; those that reach a draining proxy are not
 * added), so that a drain can wait for them, ask their connections to close after them, and cut those the deadline
 * finds still running.
 */
export class InFlight {
  readonly #responses = new Set<ServerResponse>();
  #whenEmpty: (() => void) | undefined;

  get size(): number {
    return this.#responses.size;
  }

  add(res: ServerResponse): void {
    this.#responses.add(res);
  }

  delete(res: ServerResponse): void {
    this.#responses.delete(res);
    if (this.#responses.size === 0) this.#whenEmpty?.();
  }

  /** Each response in flight. */
  each(visit: (res: ServerResponse) => void): void {
    for (const res of this.#responses) visit(res);
  }

  /** Resolves once no request is in flight. */
  empty(): Promise<void> {
    if (this.#responses.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#whenEmpty;
      this.#whenEmpty = () => {
        this.#whenEmpty = undefined;
        previous?.();
        resolve();
      };
    });
  }
}
