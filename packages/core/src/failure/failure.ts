import { parseRetryAfter } from './retry-after.js';
import { type FailurePhase, type FailureType, failureRules } from './taxonomy.js';

/** What went wrong between the gateway and its upstream, as every part of gateway-errors sees it. */
export interface GatewayFailure {
  /**
   * The RFC 9209 Proxy-Status error type. Absent when the failure was declared by a status alone (an upstream's
   * own 5xx, `ctx.throw(503)`, `new ServiceUnavailableError()`): then we do not claim to know why.
   */
  readonly type?: FailureType | undefined;
  /** The status a generated response carries: the taxonomy's, or the declared/upstream one. */
  readonly status: number;
  /** Where in the exchange it happened. */
  readonly phase: FailurePhase;
  /** Whether the request may have reached the upstream (so a non-idempotent retry could repeat its effect). */
  readonly mayHaveReachedUpstream: boolean;
  /** Suggested whole seconds before a retry, when the real state knows it (breaker, maintenance, the upstream). */
  readonly retryAfter?: number | undefined;
  /** The upstream's own status, when one was received (an intercepted 5xx). */
  readonly receivedStatus?: number | undefined;
  /** The low-level code that identified it (`ECONNREFUSED`, `HPE_INVALID_CONSTANT`, `UND_ERR_SOCKET`, ...). */
  readonly code?: string | undefined;
  /** The original error or value. Internal: never shown outside development mode. */
  readonly cause?: unknown;
  /** The upstream it happened with, as `protocol//host:port`. Internal: never shown outside development mode. */
  readonly upstream?: string | undefined;
  /** How long each step took, when the proxy measured it. */
  readonly timings?: Timings | undefined;
}

/** Milliseconds from the start of an attempt to each step it reached. */
export interface Timings {
  /** Name resolved. */
  dns?: number;
  /** TCP connected. */
  connect?: number;
  /** TLS handshake done. */
  tls?: number;
  /** First byte of the response head. */
  firstByte?: number;
  /** The attempt ended (answered, failed or aborted). */
  total?: number;
}

/**
 * What a caller may add to a failure: where it knows more than the table (a reset reported by `connect` never reached
 * the upstream), and what only it knows (the Retry-After of the real state, the upstream's status, the cause).
 */
export interface FailureDetails {
  /** Overrides the table's phase. */
  phase?: FailurePhase | undefined;
  /** Overrides the table's reach. */
  mayHaveReachedUpstream?: boolean | undefined;
  /** Seconds before a retry makes sense, when the real state knows it. */
  retryAfter?: number | undefined;
  /** The upstream's own status, when one was received. */
  receivedStatus?: number | undefined;
  /** The low-level code that identified the failure. */
  code?: string | undefined;
  /** The original error or value. */
  cause?: unknown;
  /** The upstream, as `protocol//host:port`. */
  upstream?: string | undefined;
  /** How long each step took. */
  timings?: Timings | undefined;
}

/** A failure of a known type: its status, and the phase and reach unless `details` knows better, from the table. */
export function failureOf(type: FailureType, details: FailureDetails = {}): GatewayFailure {
  const rule = failureRules[type];
  return {
    type,
    status: rule.status,
    phase: details.phase ?? rule.phase,
    mayHaveReachedUpstream: details.mayHaveReachedUpstream ?? rule.mayHaveReachedUpstream,
    retryAfter: details.retryAfter,
    receivedStatus: details.receivedStatus,
    code: details.code,
    cause: details.cause,
    upstream: details.upstream,
    timings: details.timings,
  };
}

/**
 * A failure declared by its status alone: an upstream's own 5xx, or an error an application threw with a status.
 * The response status is the declared one; nothing is known of its type.
 */
export function declaredFailure(status: number, details: FailureDetails = {}): GatewayFailure {
  return {
    type: undefined,
    status,
    phase: details.phase ?? 'gateway',
    mayHaveReachedUpstream: details.mayHaveReachedUpstream ?? details.receivedStatus !== undefined,
    retryAfter: details.retryAfter,
    receivedStatus: details.receivedStatus,
    code: details.code,
    cause: details.cause,
    upstream: details.upstream,
    timings: details.timings,
  };
}

/**
 * An upstream's own 5xx answer as a failure: received in the response head, its Retry-After parsed (relative to its
 * Date), never copied.
 */
export function receivedFailure(
  status: number,
  retryAfter: string | undefined,
  date: string | undefined,
  details: Pick<FailureDetails, 'cause' | 'upstream' | 'timings'> = {},
): GatewayFailure {
  return declaredFailure(status, {
    ...details,
    receivedStatus: status,
    phase: 'response-head',
    retryAfter: parseRetryAfter(retryAfter, date),
  });
}

/** RFC 9110 §9.2.2: the methods whose intended effect is the same however many times a request is sent. */
const idempotentMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** A failed request, as the decision to send it again sees it. */
export interface RetryCandidate {
  /** The request method, as the client sent it (Node's parser upper-cases it). */
  readonly method: string;
  /**
   * Whether its body can be sent again: it has none, or it is held in memory. A body streamed from the client is
   * consumed as it goes upstream (even towards a connection that then failed): there is nothing left to send.
   */
  readonly replayable: boolean;
}

/**
 * Whether a failed request may be sent to the upstream again: the one rule that the proxy's retries, its resend on a
 * new connection after the keep-alive race, and your own code follow.
 *
 * It needs a body that can be sent again (none, or held in memory), and then either a method that is idempotent, or a
 * failure that shows the upstream never got the request (`mayHaveReachedUpstream: false`: the name did not resolve,
 * the connection was refused or timed out, the TLS handshake failed). RFC 9110 §9.2.2: a client must not
 * automatically retry a request with a non-idempotent method unless it can tell that the request was never applied.
 * A connection that closes once the request was written (a reset, "socket hang up", even on a reused keep-alive
 * connection) cannot tell it: the upstream may have read the request and acted on it, so a POST is not sent again.
 *
 * What it leaves to the caller: nothing may be sent again once part of the answer went to the client, and when (the
 * retry count, the backoff, the deadline, the retry budget) is the caller's policy.
 */
export function isRetrySafe(failure: GatewayFailure, request: RetryCandidate): boolean {
  if (!request.replayable) return false;
  return !failure.mayHaveReachedUpstream || idempotentMethods.has(request.method);
}
