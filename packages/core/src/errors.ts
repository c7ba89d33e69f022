import { declaredFailure, failureOf, type GatewayFailure } from './failure.js';
import { type FailureType, failureRules } from './taxonomy.js';

/**
 * The brand that marks our errors. A `Symbol.for` key is shared by every copy of this package in a process, so
 * an error thrown by one copy is still recognised by another, where `instanceof` would fail.
 */
const brand: unique symbol = Symbol.for('gateway-errors.error');

/** Stable codes of our error classes, one per status family. */
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
 * A gateway failure as an error, in the http-errors shape (`status`, `statusCode`, `headers`, `expose: false`), so
 * that any framework's default handler (Express's finalhandler, Koa's `ctx.onerror`) already answers it with the
 * right status and Retry-After. Carries the full {@link GatewayFailure}.
 */
export class GatewayError extends Error {
  /** The response status. */
  readonly status: number;
  /** The response status (http-errors and Express spell it both ways). */
  readonly statusCode: number;
  /** Stable string code of the status family. */
  readonly code: GatewayErrorCode;
  /** Headers a default error handler should send: Retry-After when it is known. */
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
    const headers: Record<string, string> = {};
    if (failure.retryAfter !== undefined) headers['Retry-After'] = String(failure.retryAfter);
    this.headers = Object.freeze(headers);
    Object.defineProperty(this, brand, { value: true });
  }
}

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
   * Whole seconds before a retry makes sense; sent as Retry-After (clamped by the responder's policy).
   * @default undefined (the responder's policy decides)
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

function fromOptions(status: 502 | 503 | 504, options: GatewayErrorOptions): GatewayFailure {
  const details = { retryAfter: options.retryAfter, cause: options.cause };
  if (options.type === undefined) return declaredFailure(status, details);
  if (failureRules[options.type]?.status !== status) {
    throw new TypeError(`gateway-errors: the error type "${options.type}" does not belong to status ${status}.`);
  }
  return failureOf(options.type, details);
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

/** Whether `value` is one of our errors, from this copy of the package or any other. */
export function isGatewayError(value: unknown): value is GatewayError {
  return typeof value === 'object' && value !== null && (value as { [brand]?: unknown })[brand] === true;
}

/** The error class that matches a failure's status. */
export function errorOf(failure: GatewayFailure): GatewayError {
  const ErrorClass = { 502: BadGatewayError, 503: ServiceUnavailableError, 504: GatewayTimeoutError }[failure.status];
  if (ErrorClass === undefined) return new GatewayError(failure);
  // The base constructor, with the subclass as `new.target`: the subclasses only turn options into a failure.
  return Reflect.construct(GatewayError, [failure], ErrorClass) as GatewayError;
}
