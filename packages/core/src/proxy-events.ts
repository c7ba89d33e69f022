import type { GatewayFailure, Timings } from './failure.js';
import type { FailurePhase } from './taxonomy.js';

/** Which of our timers ended an attempt. */
export type TimeoutName = 'connect' | 'response' | 'idle' | 'deadline';

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
  /** `protocol//host:port` of the upstream. */
  upstream: string;
  /** 1 for the first attempt; 0 when the client left before any attempt started (while its body was read). */
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
}

/** Another attempt is about to start. */
export interface ProxyRetryEvent extends ProxyEvent {
  /** The failure of the previous attempt, the reason for this one. `attempt` is the number of the coming attempt. */
  failure: GatewayFailure;
}

/** The client went away before the answer was complete: logged as 499, never counted against the upstream. */
export interface ProxyAbortEvent extends ProxyEvent {
  /** nginx's "client closed request", for logs that want a status. Nothing is sent. */
  status: 499;
  /** The step the exchange was at when the client left. */
  phase: FailurePhase;
  /** Whether part of the response had already gone to the client. */
  headSent: boolean;
}

/** The upstream's answer went through to the client, complete (whatever its status, 5xx passed through included). */
export interface ProxyResponseEvent extends ProxyEvent {
  /** The upstream's status, as the client received it (101 for an accepted upgrade). */
  status: number;
}

/** Events of a proxy, for `proxy.on(name, listener)`. */
export interface ProxyEvents {
  failure: [ProxyFailureEvent];
  retry: [ProxyRetryEvent];
  abort: [ProxyAbortEvent];
  response: [ProxyResponseEvent];
}
