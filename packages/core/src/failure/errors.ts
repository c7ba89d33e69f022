import { configError } from '../config/config-error.js';
import { declaredFailure, failureOf, type GatewayFailure } from './failure.js';
import { defaultRetryAfterPolicy, retryAfterFor } from './retry-after.js';
import { type FailureType, failureRules, isFailureType } from './taxonomy.js';

/**
 * The brand that marks our errors. A `Symbol.for` key is shared by every copy of this package in a process, so
 * an error thrown by one copy is still recognised by another, where `instanceof` would fail.
 */
const brand: unique symbol = Symbol.for('gateway-errors.error');

/**
 * Stable codes of our error classes, one per status family: `ERR_BAD_GATEWAY` (502), `ERR_SERVICE_UNAVAILABLE`
 * (503), `ERR_GATEWAY_TIMEOUT` (504), and `ERR_GATEWAY` for any other status (an upstream's own 500, 501, 505...).
 */
export type GatewayErrorCode = 'ERR_BAD_GATEWAY' | 'ERR_SERVICE_UNAVAILABLE' | 'ERR_GATEWAY_TIMEOUT' | 'ERR_GATEWAY';

const codeByStatus: Readonly<Record<number, GatewayErrorCode>> = {
  502: 'ERR_BAD_GATEWAY',
  503: 'ERR_SERVICE_UNAVAILABLE',
  504: 'ERR_GATEWAY_TIMEOUT',
};

const defaultMessages: Readonly<Record<number, string>> = {
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * A gateway failure as an error, in the http-errors shape (`status`, `statusCode`, `headers`, `expose: false`,
 * `cause`), so that any framework's default handler (Express's finalhandler, Koa's `ctx.onerror`) already answers it
 * with the right status and Retry-After. Carries the full {@link GatewayFailure}. Recognise it with
 * {@link isGatewayError}, not `instanceof`: a second copy of this package in the same process has its own classes.
 */
export class GatewayError extends Error {
  /** The response status. */
  readonly status: number;
  /** The response status (http-errors and Express spell it both ways). */
  readonly statusCode: number;
  /** Stable string code of the status family. */
  readonly code: GatewayErrorCode;
  /**
   * Headers a default error handler should send. A 502, 503 or 504 always carries Retry-After: the failure's own
   * value, else the default hint, clamped to the default policy (1 s to 1 day); another status only when its
   * failure knows one. Our own responder ignores this and applies its configured policy.
   */
  readonly headers: Readonly<Record<string, string>>;
  /** Never show `message` to the client: it may name internal hosts. */
  readonly expose: false = false;
  /** What went wrong. */
  readonly failure: GatewayFailure;

  constructor(failure: GatewayFailure, message?: string) {
    super(message ?? describe(failure), failure.cause === undefined ? undefined : { cause: failure.cause });
    this.name = new.target.name;
    this.status = failure.status;
    this.statusCode = failure.status;
    this.code = codeByStatus[failure.status] ?? 'ERR_GATEWAY';
    this.failure = failure;
    const seconds = retryAfterFor(failure, defaultRetryAfterPolicy);
    const headers: Record<string, string> = seconds === undefined ? {} : { 'Retry-After': String(seconds) };
    this.headers = Object.freeze(headers);
  }
}
// On the prototype: every instance carries it, and none pays for defining it.
Object.defineProperty(GatewayError.prototype, brand, { value: true });

function describe(failure: GatewayFailure): string {
  const what = defaultMessages[failure.status] ?? `Upstream answered ${failure.status}`;
  return failure.type === undefined ? what : `${what} (${failure.type})`;
}

/** Options of the error classes users throw themselves. */
export interface GatewayErrorOptions<Type extends FailureType = FailureType> {
  /**
   * The RFC 9209 error type, when it is known. It must belong to the class's status.
   * @default undefined (no error type is claimed)
   */
  type?: Type;
  /**
   * Seconds before a retry makes sense, 0 or more; sent as Retry-After, rounded up to whole seconds and clamped by
   * the responder's policy.
   * @default undefined (the responder's policy decides: its hint)
   */
  retryAfter?: number;
  /**
   * The message, for logs only: it is never shown to clients outside development mode.
   * @default the status text and error type
   */
  message?: string;
  /** The error that caused it. */
  cause?: unknown;
}

const classByStatus = { 502: 'BadGatewayError', 503: 'ServiceUnavailableError', 504: 'GatewayTimeoutError' } as const;

/** Turns a user's options into a failure, checking them: a wrong value is a bug to report now, not a bad header. */
function fromOptions(status: 502 | 503 | 504, options: GatewayErrorOptions): GatewayFailure {
  if (typeof options !== 'object' || options === null) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_ERROR_OPTIONS',
      `new ${classByStatus[status]}() takes an options object such as { retryAfter: 30 }.`,
    );
  }
  const { type, retryAfter, cause } = options;
  if (retryAfter !== undefined && (typeof retryAfter !== 'number' || !Number.isFinite(retryAfter) || retryAfter < 0)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_ERROR_OPTIONS',
      `retryAfter must be a number of seconds, 0 or more, got ${String(retryAfter)}.`,
    );
  }
  const details = { retryAfter: retryAfter === undefined ? undefined : Math.ceil(retryAfter), cause };
  if (type === undefined) return declaredFailure(status, details);
  if (!isFailureType(type)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_ERROR_OPTIONS',
      `"${String(type)}" is not an RFC 9209 error type this package knows.`,
    );
  }
  if (failureRules[type].status !== status) {
    const ErrorClass = classByStatus[failureRules[type].status];
    throw configError(
      'GATEWAY_ERRORS_INVALID_ERROR_OPTIONS',
      `the error type "${type}" belongs to status ${failureRules[type].status}: throw a ${ErrorClass} instead.`,
    );
  }
  return failureOf(type, details);
}

/**
 * 502: the upstream answered badly or not at all.
 * @example throw new BadGatewayError({ type: 'connection_refused', cause: err });
 */
export class BadGatewayError extends GatewayError {
  constructor(options: GatewayErrorOptions = {}) {
    super(fromOptions(502, options), options.message);
  }
}

/**
 * 503: the service is unavailable for now (maintenance, circuit open, overload). Give `retryAfter` when you know.
 * @example throw new ServiceUnavailableError({ retryAfter: 120 });
 */
export class ServiceUnavailableError extends GatewayError {
  constructor(options: GatewayErrorOptions = {}) {
    super(fromOptions(503, options), options.message);
  }
}

/**
 * 504: the upstream did not answer in time.
 * @example throw new GatewayTimeoutError({ type: 'http_response_timeout' });
 */
export class GatewayTimeoutError extends GatewayError {
  constructor(options: GatewayErrorOptions = {}) {
    super(fromOptions(504, options), options.message);
  }
}

/** Whether `value` is one of our errors, from this copy of the package or any other (see the brand above). */
export function isGatewayError(value: unknown): value is GatewayError {
  return typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true;
}

/** The class of each gateway status; others are plain GatewayErrors. */
const errorClasses: Readonly<Record<number, typeof GatewayError>> = {
  502: BadGatewayError,
  503: ServiceUnavailableError,
  504: GatewayTimeoutError,
};

/**
 * The error class that matches a failure's status, for a failure observed rather than thrown (the proxy's): it has
 * no stack trace of its own; the original error, with its stack, is its `cause`.
 */
export function errorOf(failure: GatewayFailure): GatewayError {
  const ErrorClass = errorClasses[failure.status];
  // No stack trace: this error only carries a failure from the proxy to the adapter, its stack would name our own
  // internals, and capturing one was the largest single cost of the error path (about 13 µs of its ~115 µs per
  // request in `pnpm bench`). The real error, with its stack, stays in `cause`.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    if (ErrorClass === undefined) return new GatewayError(failure);
    // The base constructor, with the subclass as `new.target`: the subclasses only turn options into a failure.
    return Reflect.construct(GatewayError, [failure], ErrorClass) as GatewayError;
  } finally {
    Error.stackTraceLimit = limit;
  }
}
