import type { IncomingMessage } from 'node:http';
import { isGatewayError } from './errors.js';
import { declaredFailure, type FailureDetails, failureOf, type GatewayFailure } from './failure.js';
import { parseRetryAfter } from './retry-after.js';
import type { FailurePhase, FailureType } from './taxonomy.js';

/**
 * Turns whatever was thrown or observed into a {@link GatewayFailure}, or `undefined` when it is not a gateway
 * failure (those must pass on unchanged). Pure: it reads the value and its `cause` chain, nothing else.
 *
 * It knows Node's system, DNS, TLS and HTTP parser errors; http-proxy and http-proxy-3 (which pass those through);
 * Node's fetch and undici (`TypeError: fetch failed` with the error in `cause`, `UND_ERR_*` codes,
 * `AbortSignal.timeout()`'s `TimeoutError`); axios, got and node-fetch by their documented shapes; our own errors;
 * and any http-errors-shaped error with status 502, 503 or 504.
 *
 * A client that went away is not an upstream failure: check {@link clientWentAway} first when you have the request.
 */
export function classify(error: unknown): GatewayFailure | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  // Walk the cause chain from the outside in: wrappers (fetch's TypeError, got's RequestError) say less than what
  // they wrap, except where the wrapper itself knows more (got's timeout event, axios's response).
  while (isObject(current) && !seen.has(current)) {
    seen.add(current);
    const failure = recognise(current, error);
    if (failure !== undefined) return failure;
    current = current.cause ?? firstOf(current.errors);
  }
  return undefined;
}

/**
 * Whether the client went away: its connection is gone while we were still answering. Whatever error came with it
 * (ECONNRESET on the incoming socket, an AbortError from a signal tied to the request, an upstream call we cancelled)
 * is not an upstream failure: it is answered with nothing, logged as 499, and never counted against the upstream.
 */
export function clientWentAway(req: IncomingMessage): boolean {
  return req.socket == null || req.socket.destroyed;
}

type ErrorLike = Record<string, unknown> & { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };

function isObject(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null;
}

function firstOf(errors: unknown): unknown {
  return Array.isArray(errors) ? errors[0] : undefined;
}

/** The failure `node` describes, if any; `cause` is the original value, kept as the failure's cause. */
function recognise(node: ErrorLike, cause: unknown): GatewayFailure | undefined {
  if (isGatewayError(node)) return node.failure;
  return (
    fromHttpClientShape(node, cause) ??
    fromTimeout(node, cause) ??
    fromCode(node, cause) ??
    fromDeclaredStatus(node, cause)
  );
}

/** axios, got and undici errors that carry the upstream's response, and got's timeout events. */
function fromHttpClientShape(node: ErrorLike, cause: unknown): GatewayFailure | undefined {
  // axios: `isAxiosError`, `response.status`, `response.headers` (an AxiosHeaders or a plain object).
  // got: `HTTPError` with `response.statusCode` and `response.headers`.
  const response = node.response;
  if (isObject(response) && (node.isAxiosError === true || node.name === 'HTTPError')) {
    const status = Number(response.status ?? response.statusCode);
    return upstreamStatus(status, headerOf(response.headers, 'retry-after'), headerOf(response.headers, 'date'), cause);
  }
  // undici's `ResponseStatusCodeError` (request with `throwOnError`).
  if (node.code === 'UND_ERR_RESPONSE_STATUS_CODE') {
    const status = Number(node.status ?? node.statusCode);
    return upstreamStatus(status, headerOf(node.headers, 'retry-after'), headerOf(node.headers, 'date'), cause);
  }
  // got's `TimeoutError` names the phase that timed out.
  if (node.name === 'TimeoutError' && typeof node.event === 'string') {
    const type = gotTimeoutEvents[node.event] ?? 'http_response_timeout';
    return failureOf(type, { code: 'ETIMEDOUT', cause });
  }
  // node-fetch v2 `FetchError` types.
  if (node.name === 'FetchError' && typeof node.type === 'string' && node.type !== 'system') {
    const type = nodeFetchTypes[node.type];
    return type === undefined ? undefined : failureOf(type, { code: node.type, cause });
  }
  // axios timeouts: `ECONNABORTED` (or `ETIMEDOUT` with clarifyTimeoutError) and a "timeout of Nms exceeded" message.
  if (node.isAxiosError === true && /timeout/i.test(String(node.message))) {
    return failureOf('http_response_timeout', { code: String(node.code), cause });
  }
  return undefined;
}

const gotTimeoutEvents: Readonly<Record<string, FailureType>> = {
  lookup: 'dns_timeout',
  connect: 'connection_timeout',
  secureConnect: 'connection_timeout',
  socket: 'connection_read_timeout',
  send: 'connection_write_timeout',
  response: 'http_response_timeout',
  read: 'connection_read_timeout',
  request: 'http_response_timeout',
};

const nodeFetchTypes: Readonly<Record<string, FailureType>> = {
  'request-timeout': 'http_response_timeout',
  'body-timeout': 'connection_read_timeout',
};

/** A received upstream status: a gateway failure only when it is a 5xx. */
function upstreamStatus(
  status: number,
  retryAfter: string | undefined,
  date: string | undefined,
  cause: unknown,
): GatewayFailure | undefined {
  if (!Number.isInteger(status) || status < 500 || status > 599) return undefined;
  return declaredFailure(status, {
    receivedStatus: status,
    retryAfter: parseRetryAfter(retryAfter, date),
    phase: 'response-head',
    cause,
  });
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  const get = headers.get;
  const value = typeof get === 'function' ? get.call(headers, name) : (headers[name] ?? headers[titleCase(name)]);
  return typeof value === 'string' ? value : undefined;
}

function titleCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_match, dash: string, letter: string) => dash + letter.toUpperCase());
}

/** `AbortSignal.timeout()` rejects with a `TimeoutError` DOMException; it bounds the whole exchange. */
function fromTimeout(node: ErrorLike, cause: unknown): GatewayFailure | undefined {
  if (node.name === 'TimeoutError' && node.event === undefined) {
    return failureOf('http_response_timeout', { code: 'TimeoutError', cause });
  }
  return undefined;
}

/** Node system, DNS, TLS and parser errors, and undici's codes. */
function fromCode(node: ErrorLike, cause: unknown): GatewayFailure | undefined {
  const code = typeof node.code === 'string' ? node.code : undefined;
  if (code === undefined) return fromMessage(node, cause);
  const known = (type: FailureType, details: FailureDetails = {}) => failureOf(type, { code, cause, ...details });
  const syscall = typeof node.syscall === 'string' ? node.syscall : '';

  // DNS: getaddrinfo (dns.lookup) and c-ares (dns.resolve*, syscall queryA, queryAaaa, ...).
  if (syscall === 'getaddrinfo' || syscall.startsWith('query')) {
    return known(code === 'EAI_AGAIN' || code === 'ETIMEOUT' ? 'dns_timeout' : 'dns_error');
  }
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
    case 'ENODATA':
      return known('dns_error');
    case 'EAI_AGAIN':
      return known('dns_timeout');
    case 'ECONNREFUSED':
      return known('connection_refused');
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
    case 'EADDRNOTAVAIL':
      return known('destination_ip_unroutable');
    case 'ETIMEDOUT':
      return syscall === 'read' ? known('connection_read_timeout') : known('connection_timeout');
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'EPIPE':
      return fromReset(node, code, cause);
    case 'UND_ERR_CONNECT_TIMEOUT':
      return known('connection_timeout');
    case 'UND_ERR_HEADERS_TIMEOUT':
      return known('http_response_timeout');
    case 'UND_ERR_BODY_TIMEOUT':
      return known('connection_read_timeout', { phase: 'response-body' });
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return known('connection_terminated');
    case 'UND_ERR_HEADERS_OVERFLOW':
      return known('http_response_header_section_size');
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return known('http_response_incomplete', { phase: 'response-body' });
    case 'HPE_HEADER_OVERFLOW':
      return known('http_response_header_section_size');
    case 'HPE_INVALID_EOF_STATE':
      return known('http_response_incomplete');
    case 'EPROTO':
      return known('tls_protocol_error');
  }
  if (code.startsWith('HPE_')) return known('http_protocol_error');
  if (tlsCertificateCodes.has(code) || code.startsWith('ERR_TLS_CERT')) return known('tls_certificate_error');
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
    return known(/ALERT/.test(code) ? 'tls_alert_received' : 'tls_protocol_error');
  }
  return fromMessage(node, cause);
}

/** OpenSSL's certificate verification results, as Node reports them in `err.code`. */
const tlsCertificateCodes = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A connection closed under us. Node says "socket hang up" when it closed before any response byte, "aborted" when
 * a response was cut in its body, and "Client network socket disconnected before secure TLS connection was
 * established" during the handshake.
 */
function fromReset(node: ErrorLike, code: string, cause: unknown): GatewayFailure {
  const message = String(node.message);
  if (message === 'aborted') {
    return failureOf('http_response_incomplete', { code, cause, phase: 'response-body' });
  }
  if (/before secure TLS connection/.test(message)) {
    return failureOf('connection_terminated', { code, cause, phase: 'tls', mayHaveReachedUpstream: false });
  }
  const phase: FailurePhase = code === 'EPIPE' ? 'request' : 'response-head';
  return failureOf('connection_terminated', { code, cause, phase });
}

/** Errors known by their message alone: undici's "other side closed" and fetch's "terminated" body. */
function fromMessage(node: ErrorLike, cause: unknown): GatewayFailure | undefined {
  if (node.name === 'TypeError' && node.message === 'terminated' && node.cause === undefined) {
    return failureOf('http_response_incomplete', { cause, phase: 'response-body' });
  }
  if (node.message === 'socket hang up') return failureOf('connection_terminated', { code: 'ECONNRESET', cause });
  return undefined;
}

/** http-errors and friends: `status` or `statusCode` 502, 503 or 504, with their `headers` (Retry-After). */
function fromDeclaredStatus(node: ErrorLike, cause: unknown): GatewayFailure | undefined {
  const status = Number(node.status ?? node.statusCode);
  if (status !== 502 && status !== 503 && status !== 504) return undefined;
  return declaredFailure(status, { retryAfter: parseRetryAfter(headerOf(node.headers, 'retry-after')), cause });
}
