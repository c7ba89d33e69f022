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

/**
 * Whether a failed request may be sent again: it never reached the upstream, or repeating it is harmless because the
 * method is idempotent and the body can be replayed (RFC 9110 §9.2.2: a request the server may have acted on is
 * retried automatically only when it is idempotent).
 */
export function isRetrySafe(failure: GatewayFailure, idempotentAndReplayable: boolean): boolean {
  return !failure.mayHaveReachedUpstream || idempotentAndReplayable;
}
