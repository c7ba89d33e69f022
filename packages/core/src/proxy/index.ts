/**
 * proxy/: forwarding a request. proxy.ts is createProxy(): refusals, the body, the concurrency slot, then attempts,
 * retries and failover until one is answered; attempt.ts runs one attempt under its timers; engine.ts sends it with
 * node:http(s) and tunnels WebSockets; headers.ts prepares the request's headers and the response's, request-body.ts
 * the body, request-target.ts the path rule; proxy-options.ts checks the options once; proxy-events.ts is what the
 * proxy reports, and logger.ts (logTo) writes it to a structured logger. drain.ts is what a drain checks and counts;
 * websocket-frames.ts follows a tunnel's frame boundaries, where a drain's close frame may go.
 */
export { type FinishedAttempt, ProxyTimeoutError } from './attempt.js';
export type { DrainOptions, DrainResult } from './drain.js';
export type { TunnelsGone } from './engine.js';
export {
  type LogLevel,
  type LogLevels,
  type LogMethod,
  type LogToOptions,
  logTo,
  type StructuredLogger,
} from './logger.js';
export { createProxy, type FailureRenderer, type GatewayProxy } from './proxy.js';
export type {
  ClientStall,
  ProxyAbortEvent,
  ProxyBreakerEvent,
  ProxyEvent,
  ProxyEvents,
  ProxyFailureEvent,
  ProxyHealthEvent,
  ProxyRejectEvent,
  ProxyResponseEvent,
  ProxyRetryEvent,
  RejectReason,
  TimeoutName,
} from './proxy-events.js';
export type { ProxyOptions, RetryOptions, TimeoutOptions, UpstreamTlsOptions } from './proxy-options.js';
export { ConsumedBodyError } from './request-body.js';
export { FrameBoundaries, goingAwayFrame } from './websocket-frames.js';
