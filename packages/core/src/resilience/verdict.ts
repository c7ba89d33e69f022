import type { GatewayFailure } from '../failure/failure.js';

/**
 * How one attempt against an upstream ended, as the proxy saw it: the upstream answered with `status`, the attempt
 * failed with `failure` (an intercepted 5xx is a failure that carries `receivedStatus`), or the client went away.
 */
export type AttemptResult =
  | { readonly status: number }
  | { readonly failure: GatewayFailure }
  | { readonly aborted: true };

/** What an attempt says about the upstream's health. */
export type Verdict = 'success' | 'failure' | 'neutral';

/**
 * Judges an attempt for the circuit breaker and passive health. A client that went away says nothing about the
 * upstream (DESIGN: "never counted as an upstream failure"); neither does a failure the gateway decided on its own
 * (phase `gateway`: open circuit, concurrency limit, maintenance). An upstream that answered, even with a 4xx or
 * a 5xx, is reachable and speaks HTTP: that is a success, unless its status is one of `failureStatuses`.
 */
export function verdictOf(result: AttemptResult, failureStatuses: readonly number[] = []): Verdict {
  if ('aborted' in result) return 'neutral';
  if ('status' in result) return failureStatuses.includes(result.status) ? 'failure' : 'success';
  const { failure } = result;
  if (failure.phase === 'gateway') return 'neutral';
  if (failure.receivedStatus !== undefined) {
    return failureStatuses.includes(failure.receivedStatus) ? 'failure' : 'success';
  }
  return 'failure';
}
