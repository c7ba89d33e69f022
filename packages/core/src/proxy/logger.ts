import type { EventEmitter } from 'node:events';
import { configError } from '../config/config-error.js';
import type {
  ProxyAbortEvent,
  ProxyBreakerEvent,
  ProxyEvent,
  ProxyEvents,
  ProxyFailureEvent,
  ProxyHealthEvent,
  ProxyRejectEvent,
  ProxyResponseEvent,
  ProxyRetryEvent,
} from './proxy-events.js';

/** A log method in the pino style: a merging object first, then the message. */
export type LogMethod = (object: Record<string, unknown>, message: string) => void;

/**
 * A structured logger: pino, or anything with its calling convention (bunyan, a pino child, a small wrapper around
 * your own). Only the levels you route events to need to exist.
 */
export type StructuredLogger = { [Level in LogLevel]?: LogMethod };

/** A level name of pino (and bunyan, winston's npm levels in part). */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Where each event goes: a level, or `false` to leave it out. */
export interface LogLevels {
  /**
   * An attempt failed (`willRetry` says whether another follows).
   * @default 'warn'
   */
  failure?: LogLevel | false;
  /**
   * Another attempt is about to start, or the same one is sent again on a new connection (`resend`: the keep-alive
   * race).
   * @default 'info'
   */
  retry?: LogLevel | false;
  /**
   * The client went away (499), or stalled and was cut off or answered 408 (`stalled`).
   * @default 'info'
   */
  abort?: LogLevel | false;
  /**
   * The upstream's answer went through (one line per request: usually your access log's job).
   * @default false
   */
  response?: LogLevel | false;
  /**
   * A target's circuit changed state (opened, half-opened, closed).
   * @default 'warn'
   */
  breaker?: LogLevel | false;
  /**
   * A target went out of rotation or came back.
   * @default 'warn'
   */
  health?: LogLevel | false;
  /**
   * A client's request was refused before it reached an upstream (400 for a `..` path or a smuggling-shaped
   * handshake, 501 for a transfer coding: `reason` says which). Each is one bad request, not an outage; a run of them
   * is someone probing.
   * @default 'info'
   */
  reject?: LogLevel | false;
}

/** Options of {@link logTo}. */
export interface LogToOptions {
  /**
   * The level of each event.
   * @default { failure: 'warn', retry: 'info', abort: 'info', response: false, breaker: 'warn', health: 'warn', reject: 'info' }
   */
  levels?: LogLevels;
}

const levelNames = new Set<unknown>(['fatal', 'error', 'warn', 'info', 'debug', 'trace', false]);
const defaultLevels: Readonly<Required<LogLevels>> = {
  failure: 'warn',
  retry: 'info',
  abort: 'info',
  response: false,
  breaker: 'warn',
  health: 'warn',
  reject: 'info',
};

/** The fields every line has, flat, so log queries need no nesting. `path` has no query string. */
function base(event: ProxyEvent, name: string): Record<string, unknown> {
  return {
    event: name,
    requestId: event.requestId,
    method: event.method,
    path: event.path,
    upstream: event.upstream,
    attempt: event.attempt,
    upgrade: event.upgrade,
    timings: event.timings,
  };
}

function failureLine(event: ProxyFailureEvent): [Record<string, unknown>, string] {
  const { failure } = event;
  const line = base(event, 'proxy.failure');
  line.status = failure.status;
  line.errorType = failure.type;
  line.phase = failure.phase;
  line.code = failure.code;
  line.receivedStatus = failure.receivedStatus;
  line.retryAfter = failure.retryAfter;
  line.timeout = event.timeout;
  line.headSent = event.headSent;
  line.willRetry = event.willRetry;
  line.stale = event.stale;
  // pino's default `err` serializer keeps type, message, stack and code of an Error (and of its cause chain).
  if (failure.cause instanceof Error) line.err = failure.cause;
  const what = failure.type ?? `status ${failure.receivedStatus ?? failure.status}`;
  const then = event.headSent
    ? 'client connection aborted'
    : event.willRetry
      ? 'retrying'
      : event.stale
        ? 'answered with a kept copy'
        : `answered ${failure.status}`;
  return [line, `upstream ${what} (${failure.phase}); ${then}`];
}

function retryLine(event: ProxyRetryEvent): [Record<string, unknown>, string] {
  const line = base(event, 'proxy.retry');
  line.errorType = event.failure.type;
  line.status = event.failure.status;
  line.resend = event.resend;
  if (event.resend) return [line, 'upstream closed a reused connection unanswered; sending again on a new one'];
  return [line, `retrying upstream request, attempt ${event.attempt}`];
}

function abortLine(event: ProxyAbortEvent): [Record<string, unknown>, string] {
  const line = base(event, 'proxy.abort');
  line.status = event.status;
  line.phase = event.phase;
  line.headSent = event.headSent;
  if (event.stalled === undefined) return [line, 'client closed request'];
  line.stalled = event.stalled;
  const what = event.stalled === 'client-body' ? 'sent no request body' : 'took no response bytes';
  const then = event.headSent ? 'connection cut' : `answered ${event.status}`;
  return [line, `client ${what} for timeouts.idle; ${then}`];
}

function responseLine(event: ProxyResponseEvent): [Record<string, unknown>, string] {
  const line = base(event, 'proxy.response');
  line.status = event.status;
  return [line, `upstream answered ${event.status}`];
}

function breakerLine(event: ProxyBreakerEvent): [Record<string, unknown>, string] {
  const { upstream, target, from, to, reason, openFor } = event;
  const line: Record<string, unknown> = { event: 'proxy.breaker', upstream, target, from, to, reason, openFor };
  return [line, `circuit ${from} -> ${to} (${reason})`];
}

function healthLine(event: ProxyHealthEvent): [Record<string, unknown>, string] {
  const { upstream, target, healthy, source } = event;
  return [
    { event: 'proxy.health', upstream, target, healthy, source },
    `target ${healthy ? 'back in rotation' : 'out of rotation'} (${source} health)`,
  ];
}

function rejectLine(event: ProxyRejectEvent): [Record<string, unknown>, string] {
  const line = base(event, 'proxy.reject');
  line.status = event.status;
  line.reason = event.reason;
  return [line, `refused a client's request (${event.reason}); answered ${event.status}`];
}

/**
 * Logs a proxy's events to a structured logger, one line per event with flat fields (`event`, `requestId`,
 * `method`, `path`, `upstream`, `attempt`, `status`, `errorType`, `phase`, `code`, `timeout`, `stale`, `timings`, and `err`
 * with the cause). Returns a function that stops it. Listeners are added only for the events you log.
 * @example
 * import pino from 'pino';
 * const logger = pino();
 * const stop = logTo(proxy, logger, { levels: { retry: 'debug' } });
 */
export function logTo(
  proxy: EventEmitter<ProxyEvents>,
  logger: StructuredLogger,
  options: LogToOptions = {},
): () => void {
  const levels = { ...defaultLevels, ...options.levels };
  for (const [event, level] of Object.entries(levels)) {
    if (!(event in defaultLevels)) {
      throw configError(
        'GATEWAY_ERRORS_UNKNOWN_OPTION',
        `logTo() levels has no event "${event}"; use failure, retry, abort, response, breaker, health or reject.`,
      );
    }
    if (!levelNames.has(level)) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `logTo() levels.${event} must be fatal, error, warn, info, debug, trace or false, got ${JSON.stringify(level)}.`,
      );
    }
    if (level !== false && typeof logger[level] !== 'function') {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `logTo() routes ${event} to "${level}", but the logger has no ${level}() method.`,
      );
    }
  }
  const stops: Array<() => void> = [];
  function route<Name extends keyof LogLevels & keyof ProxyEvents>(
    name: Name,
    line: (...args: ProxyEvents[Name]) => [Record<string, unknown>, string],
  ): void {
    const level = levels[name];
    if (level === false) return;
    const method = logger[level] as LogMethod;
    const listener = (...args: ProxyEvents[Name]) => {
      const [object, message] = line(...args);
      method.call(logger, object, message);
    };
    // The overloads of EventEmitter<ProxyEvents> do not narrow through a generic name.
    const emitter = proxy as unknown as EventEmitter;
    emitter.on(name, listener as (...args: unknown[]) => void);
    stops.push(() => emitter.off(name, listener as (...args: unknown[]) => void));
  }
  route('failure', failureLine);
  route('retry', retryLine);
  route('abort', abortLine);
  route('response', responseLine);
  route('breaker', breakerLine);
  route('health', healthLine);
  route('reject', rejectLine);
  return () => {
    for (const stop of stops.splice(0)) stop();
  };
}
