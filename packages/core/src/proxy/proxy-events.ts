import type { GatewayFailure, Timings } from '../failure/failure.js';
import type { FailurePhase } from '../failure/taxonomy.js';
import type { BreakerReason, BreakerState } from '../resilience/breaker.js';

/** Which of our timers ended an attempt. */
export type TimeoutName = 'connect' | 'response' | 'idle' | 'deadline';

/**
 * How a client stalled for `timeouts.idle` while the exchange waited on it: it sent no request body bytes
 * (`client-body`, nginx's client_body_timeout), or took none of the response bytes written to it (`client-read`,
 * nginx's send_timeout).
 */
export type ClientStall = 'client-body' | 'client-read';

/**
 * What every event says. `upstream` and `path` are internal: for logs and metrics, never for clients. Events are
 * built only when someone listens.
 */
export interface ProxyEvent {
  /** The request id: the X-Request-Id sent upstream and the reference on the error page. */
  requestId: string;
  /** The request method. */
  method: string;
  /** The request path as forwarded, without the query string (which often carries tokens). */
  path: string;
  /**
   * `protocol//host:port` of the target of this attempt. When no target was chosen (the concurrency limit refused the
   * request, or no target was available), the proxy's targets, comma-separated.
   */
  upstream: string;
  /**
   * 1 for the first attempt; 0 when the request ended before any attempt started (the client left while its body was
   * read or while it waited for a concurrency slot, or the concurrency limit refused it).
   */
  attempt: number;
  /** Whether this is a WebSocket (upgrade) request. */
  upgrade: boolean;
  /** Milliseconds from the start of the attempt to each step it reached; `total` when it ended. */
  timings: Timings;
}

/** An attempt failed. */
export interface ProxyFailureEvent extends ProxyEvent {
  /** The classification: `type` (RFC 9209 error type), `status`, `phase`, `code`, `cause`, `retryAfter`. */
  failure: GatewayFailure;
  /**
   * Which of our timers ended the attempt, if one did: our own timeouts are told apart from resets and refusals,
   * and from each other. `deadline` means the overall deadline, whatever step it cut.
   */
  timeout: TimeoutName | undefined;
  /** Whether the response head had already gone to the client (the client connection was then aborted). */
  headSent: boolean;
  /** Whether another attempt follows (a `retry` event announces it). */
  willRetry: boolean;
  /**
   * Whether a kept copy answered instead of an error: stale-if-error's (200 with Age and Cache-Status), or robots.txt's
   * last good copy. `false` when the error was answered, for robots.txt's fallback, and whenever `willRetry` or
   * `headSent`. The failure is reported all the same, so monitoring sees the outage. (A stale copy of an answer; a
   * request sent again after a stale keep-alive connection is a `retry` event with `resend`.)
   */
  stale: boolean;
}

/** Another attempt is about to start, or the same one is sent again on a new connection (`resend`). */
export interface ProxyRetryEvent extends ProxyEvent {
  /** The failure of the previous attempt, the reason for this one. `attempt` is the number of the coming attempt. */
  failure: GatewayFailure;
  /**
   * The keep-alive race: the attempt went out on a reused connection that the upstream closed before answering, and
   * it is sent again at once on a new connection, under the same `attempt` number. Not a retry: no backoff, not
   * counted in `retry.retries` or the budget, nothing for the breaker; no `failure` event for the lost race. Only a
   * request safe to send again is (`isRetrySafe`: an idempotent method, a body none or held in memory).
   */
  resend: boolean;
}

/**
 * The client went away before the answer was complete, or stalled and the proxy ended the exchange: logged as 499
 * (408 when a 408 was answered), never counted against the upstream.
 */
export interface ProxyAbortEvent extends ProxyEvent {
  /**
   * 499, nginx's "client closed request", for logs that want a status: nothing more was sent. 408 when the client
   * stalled its request body before anything was sent, and was answered 408 Request Timeout.
   */
  status: 499 | 408;
  /** The step the exchange was at when the client left or stalled. */
  phase: FailurePhase;
  /** Whether part of the response had already gone to the client. */
  headSent: boolean;
  /**
   * Set when the client did not leave but stalled for `timeouts.idle`: `client-body` (it stopped sending its body)
   * or `client-read` (it stopped taking the response). The proxy then ended the exchange: 408 and a close before
   * the head, a cut connection after it; the upstream request was aborted.
   */
  stalled: ClientStall | undefined;
}

/** The upstream's answer went through to the client, complete (whatever its status, 5xx passed through included). */
export interface ProxyResponseEvent extends ProxyEvent {
  /** The upstream's status, as the client received it (101 for an accepted upgrade). */
  status: number;
}

/**
 * Why the proxy refused a client's request itself, before (or instead of) forwarding it. These are the client's
 * mistakes or attacks, not upstream failures: they never reach the circuit breaker, health or retries, and they are
 * answered in plain text, since a request we refuse to forward may not be one whose framing we can trust.
 */
export type RejectReason =
  /** An upgrade that is not a WebSocket handshake (`Upgrade: h2c`, a POST): RFC 6455 §4.1. */
  | 'not-a-websocket'
  /**
   * 400: a request-target with a `..` segment, as written or decoded (`/..%2fadmin`): it could leave the target's
   * path at the upstream. The request-target rule of docs/proxy.md.
   */
  | 'unsafe-path'
  /**
   * 501: a Transfer-Encoding other than `chunked` alone (`gzip, chunked`): RFC 9112 §6.1. Re-framed as plain chunked
   * the body would change meaning; the body is never read.
   */
  | 'unsupported-transfer-coding'
  /** 400: a WebSocket handshake that announces a body (Content-Length or Transfer-Encoding): see `announcesBody`. */
  | 'upgrade-with-body';

/**
 * The proxy refused the client's request itself (a hostile or malformed request): it was never forwarded, and it
 * says nothing about the upstream. For security monitoring.
 */
export interface ProxyRejectEvent extends ProxyEvent {
  /** The status answered (400, 408, 501...). */
  status: number;
  /** Why, as a stable token. */
  reason: RejectReason;
}

/** A target's circuit breaker changed state. */
export interface ProxyBreakerEvent {
  /** `protocol//host:port` of the target. */
  upstream: string;
  /** The target's position in the `target` list (0 for a single target). */
  target: number;
  from: BreakerState;
  to: BreakerState;
  /** `consecutive-failures`, `failure-ratio`, `probe-failed`, `open-time-over` or `probes-succeeded`. */
  reason: BreakerReason;
  /** When `to` is `open`: how long it stays open, in milliseconds (jitter included). */
  openFor?: number;
}

/** A target went out of rotation or came back. */
export interface ProxyHealthEvent {
  /** `protocol//host:port` of the target. */
  upstream: string;
  /** The target's position in the `target` list. */
  target: number;
  healthy: boolean;
  /** What noticed: failed requests (or the end of their down time), or an active health check. */
  source: 'passive' | 'active';
}

/** Events of a proxy, for `proxy.on(name, listener)`. */
export interface ProxyEvents {
  failure: [ProxyFailureEvent];
  retry: [ProxyRetryEvent];
  abort: [ProxyAbortEvent];
  response: [ProxyResponseEvent];
  reject: [ProxyRejectEvent];
  breaker: [ProxyBreakerEvent];
  health: [ProxyHealthEvent];
}
