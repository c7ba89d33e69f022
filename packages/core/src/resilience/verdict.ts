import type { GatewayFailure } from '../failure/failure.js';

/**
 * How one attempt against an upstream ended, as the breaker and passive health read it: the upstream answered with
 * `status`, the attempt failed with `failure` (an intercepted 5xx is a failure that carries `receivedStatus`), or the
 * client went away first (`aborted`). The proxy's attempts end in a `FinishedAttempt` (proxy/attempt.ts): one of
 * these with the attempt's details, reported as it is.
 */
export type AttemptOutcome =
  | { readonly kind: 'answered'; readonly status: number }
  | { readonly kind: 'failed'; readonly failure: GatewayFailure }
  | { readonly kind: 'aborted' };

/** What an attempt says about the upstream's health. */
export type Verdict = 'success' | 'failure' | 'neutral';

/**
 * Judges an attempt for the circuit breaker and passive health. A client that went away says nothing about the
 * upstream (DESIGN: "never counted as an upstream failure"); neither does a failure the gateway decided on its own
 * (phase `gateway`: open circuit, concurrency limit, maintenance). An upstream that answered, even with a 4xx or
 * a 5xx, is reachable and speaks HTTP: that is a success, unless its status is one of `failureStatuses`.
 */
export function verdictOf(outcome: AttemptOutcome, failureStatuses: readonly number[] = []): Verdict {
  switch (outcome.kind) {
    case 'aborted':
      return 'neutral';
    case 'answered':
      return failureStatuses.includes(outcome.status) ? 'failure' : 'success';
    case 'failed': {
      const { failure } = outcome;
      if (failure.phase === 'gateway') return 'neutral';
      if (failure.receivedStatus !== undefined) {
        return failureStatuses.includes(failure.receivedStatus) ? 'failure' : 'success';
      }
      return 'failure';
    }
  }
}
