import type { IncomingMessage } from 'node:http';
import { isGatewayError } from './errors.js';
import { declaredFailure, type FailureDetails, failureOf, type GatewayFailure, receivedFailure } from './failure.js';
import { parseRetryAfter } from './retry-after.js';
import type { FailurePhase, FailureType } from './taxonomy.js';

/**
 * Turns whatever was thrown or observed into a {@link GatewayFailure}, or `undefined` when it is not a gateway
 * failure (those must pass on unchanged). Pure: it reads the value and its `cause` chain, nothing else. The status
 * comes from the taxonomy (`taxonomy.ts`); this function only names the failure type, the phase and the code.
 *
 * It knows Node's system, DNS, TLS and HTTP parser errors; http-proxy and http-proxy-3 (which pass those through);
 * Node's fetch and undici (`TypeError: fetch failed` or `terminated` with the error in `cause`, `UND_ERR_*` codes,
 * `AbortSignal.timeout()`'s `TimeoutError`); axios, got and node-fetch (v2 and v3) by their documented shapes; our
 * own errors, from any copy of this package; and any http-errors-shaped error with status 502, 503 or 504.
 *
 * It returns `undefined` for an error that declares a 4xx status (a 404 from axios or got, body-parser's
 * "request aborted"), for a caller's own abort (`AbortError`, axios's `CanceledError`), and for anything it does
 * not know. A client that went away is not an upstream failure either, but only the request can tell: check
 * {@link clientWentAway} when you have it.
 * @example
 * classify(new TypeError('fetch failed', { cause: refused })) // { type: 'connection_refused', status: 502, ... }
 */
export function classify(error: unknown): GatewayFailure | undefined {
  const finding = inspect(error, error, new Set());
  return finding === notGateway ? undefined : finding;
}

/**
 * Whether the client went away: its connection is closed, or can no longer carry an answer, while we were still
 * answering. Whatever error came with it (ECONNRESET on the incoming socket, an AbortError from a signal tied to the
 * request, an upstream call we cancelled) is not an upstream failure: it is answered with nothing, logged as 499,
 * and never counted against the upstream.
 */
export function clientWentAway(req: IncomingMessage): boolean {
  const socket = req.socket;
  if (socket == null) return true;
  // `writable` turns false as soon as the client's FIN made Node end its side (httpAllowHalfOpen is false), before
  // `destroyed` does; an answer could not be written either way.
  return socket.destroyed || !socket.writable;
}

/** What a value in the chain says: a failure, "certainly not a gateway failure", or nothing known yet. */
const notGateway: unique symbol = Symbol('not a gateway failure');
type Finding = GatewayFailure | typeof notGateway | undefined;

type ErrorLike = Record<string, unknown>;

function isObject(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * Looks at one value of the chain, then at what it wraps. A wrapper's shape is trusted first where it knows more
 * than what it wraps (axios's response, got's timeout event, fetch's `terminated`); otherwise the wrapped error
 * decides, because it is the precise one (a system error's `syscall` and `address`, where axios, got and node-fetch
 * copy only the `code`). Only then does the wrapper's own code or message count.
 */
function inspect(node: unknown, original: unknown, seen: Set<unknown>): Finding {
  if (!isObject(node) || seen.has(node)) return undefined;
  seen.add(node);
  const known = byShape(node, original, seen);
  if (known !== undefined) return known;
  const inner = inspect(node.cause, original, seen) ?? inspect(firstOf(node.errors), original, seen);
  if (inner !== undefined) return inner;
  return byCode(node, original) ?? byName(node, original) ?? byMessage(node, original);
}

function firstOf(errors: unknown): unknown {
  return Array.isArray(errors) ? errors[0] : undefined;
}

/** Shapes that say for certain what happened, whatever they wrap. */
function byShape(node: ErrorLike, original: unknown, seen: Set<unknown>): Finding {
  if (isGatewayError(node) && isObject(node.failure)) return node.failure as unknown as GatewayFailure;
  if (node.isAxiosError === true) return fromAxios(node, original, seen);
  if (isObject(node.options) || typeof node.event === 'string') {
    const got = fromGot(node, original, seen);
    if (got !== undefined) return got;
  }
  if (node.name === 'FetchError' && typeof node.type === 'string') return fromNodeFetch(node, original, seen);
  const received = fromUndiciStatus(node, original);
  if (received !== undefined) return received;
  // Node's fetch (undici): the response head arrived, then its body failed. The cause says how.
  if (node.name === 'TypeError' && node.message === 'terminated') {
    return inBody(inspect(node.cause, original, seen), node, original);
  }
  // AbortSignal.timeout() aborts with a TimeoutError DOMException (fetch and undici reject with it; node:http puts
  // it in an AbortError's cause). It bounds the whole exchange, so all we know is that no complete answer came.
  if (node.name === 'TimeoutError' && node.event === undefined) {
    return failureOf('http_response_timeout', { code: 'TimeoutError', cause: original });
  }
  return fromDeclaredStatus(node, original);
}

/**
 * A failure seen after the response head arrived (a client that hands back the response, or fetch's `terminated`):
 * whatever the inner error was, it happened in the body. A closed connection there is an incomplete response
 * (RFC 9209 §2.3.18), not a terminated connection (§2.3.8, "before any part of the response was received").
 */
function inBody(inner: Finding, node: ErrorLike, original: unknown): GatewayFailure {
  const code = codeOf(node) ?? (inner === notGateway ? undefined : inner?.code);
  if (code !== undefined && isDecodingCode(code)) {
    return failureOf('http_response_content_coding', { code, cause: original });
  }
  const type =
    inner === undefined || inner === notGateway || inner.type === undefined || inner.type === 'connection_terminated'
      ? 'http_response_incomplete'
      : inner.type;
  return failureOf(type, { code, cause: original, phase: 'response-body' });
}

/** The body failure a client error with a response wraps, when its cause is one (not, say, a JSON SyntaxError). */
function bodyFailure(node: ErrorLike, original: unknown, seen: Set<unknown>): GatewayFailure | undefined {
  const inner = inspect(node.cause, original, seen);
  const code = codeOf(node);
  if ((inner === undefined || inner === notGateway) && !(code !== undefined && isDecodingCode(code))) return undefined;
  return inBody(inner, node, original);
}

function codeOf(node: ErrorLike): string | undefined {
  const code = node.code ?? (isObject(node.cause) ? node.cause.code : undefined);
  return typeof code === 'string' ? code : undefined;
}

/**
 * zlib and brotli errors: a response whose content coding does not decode (RFC 9209 §2.3.25). Only trusted inside an
 * HTTP client's error, where the decoder was the client's: the same code from an application's own zlib call is not
 * a gateway failure.
 */
function isDecodingCode(code: string): boolean {
  return /^Z_[A-Z_]+$/.test(code) || code.startsWith('ERR__ERROR_FORMAT') || code.startsWith('ERR_ZSTD');
}

/** axios (`isAxiosError`): the response when there was one, its timeout and cancel errors; else what it wraps. */
function fromAxios(node: ErrorLike, original: unknown, seen: Set<unknown>): Finding {
  const response = node.response;
  const code = text(node.code);
  if (isObject(response)) {
    const status = Number(response.status);
    if (status >= 500) return upstreamStatus(status, response.headers, original);
    // A head with a non-5xx status arrived, then the body failed ("stream has been aborted", a decoding error). Any
    // other error with a response is the application's business: a 404, a body that is not the JSON it expected.
    if (node.message === 'stream has been aborted') return inBody(undefined, node, original);
    return bodyFailure(node, original, seen) ?? notGateway;
  }
  if (node.name === 'CanceledError' || code === 'ERR_CANCELED') {
    // axios drops the signal's reason, but keeps the signal: a TimeoutError reason is AbortSignal.timeout().
    const config = node.config;
    const signal = isObject(config) ? config.signal : undefined;
    const reason = isObject(signal) ? signal.reason : undefined;
    if (isObject(reason) && reason.name === 'TimeoutError') {
      return failureOf('http_response_timeout', { code: 'TimeoutError', cause: original });
    }
    return notGateway;
  }
  // axios's own `timeout`: ECONNABORTED, or ETIMEDOUT with `transitional.clarifyTimeoutError` and in its fetch
  // adapter. A wrapped system error carries the same code but also its `cause`, which then decides.
  if ((code === 'ECONNABORTED' || code === 'ETIMEDOUT') && node.cause === undefined) {
    return failureOf('http_response_timeout', { code, cause: original });
  }
  if (code === 'ERR_BAD_RESPONSE' && /^maxContentLength size of/.test(text(node.message))) {
    return failureOf('http_response_body_size', { code, cause: original });
  }
  return undefined;
}

/**
 * got (`timings` and `options` on every error): `HTTPError` carries the response, `TimeoutError` names the timer
 * that fired, `ReadError` and `RequestError` with a response failed in the body.
 */
function fromGot(node: ErrorLike, original: unknown, seen: Set<unknown>): Finding {
  const response = isObject(node.response) ? node.response : undefined;
  switch (node.name) {
    case 'HTTPError': {
      // got's response has `statusCode`; ky's (the same shape over fetch) has `status`.
      const status = Number(response?.statusCode ?? response?.status);
      return status >= 500 ? upstreamStatus(status, response?.headers, original) : notGateway;
    }
    case 'TimeoutError': {
      // got's own timers name their event; without one it is AbortSignal.timeout()'s, handled below.
      if (typeof node.event !== 'string') return undefined;
      const event = node.event;
      const type = gotTimeoutEvents[event] ?? 'http_response_timeout';
      let phase: FailurePhase | undefined;
      if (event === 'secureConnect') phase = 'tls';
      else if (event === 'request' || event === 'socket') phase = response ? 'response-body' : 'response-head';
      return failureOf(type, { code: text(node.code) || 'ETIMEDOUT', cause: original, phase });
    }
    case 'ReadError':
      // got: "When reading from response stream fails."
      return response ? inBody(inspect(node.cause, original, seen), node, original) : undefined;
    case 'RequestError':
      return response ? bodyFailure(node, original, seen) : undefined;
    case 'CancelError':
    case 'ParseError':
    case 'MaxRedirectsError':
      return notGateway;
  }
  return undefined;
}

/** got's `timeout` option names each timer; each is a different failure (got's README, "timeout"). */
const gotTimeoutEvents: Readonly<Record<string, FailureType>> = {
  lookup: 'dns_timeout',
  connect: 'connection_timeout',
  secureConnect: 'connection_timeout',
  send: 'connection_write_timeout',
  response: 'http_response_timeout',
  read: 'connection_read_timeout',
  // `socket` is idle time on the socket and `request` the whole exchange: no complete answer came in time.
  socket: 'http_response_timeout',
  request: 'http_response_timeout',
};

/** node-fetch (v2 and v3) `FetchError`: its `type`, and for system errors the code it copied and `erroredSysCall`. */
function fromNodeFetch(node: ErrorLike, original: unknown, seen: Set<unknown>): Finding {
  switch (node.type) {
    case 'request-timeout':
      return failureOf('http_response_timeout', { code: 'request-timeout', cause: original });
    case 'body-timeout':
      return failureOf('connection_read_timeout', { code: 'body-timeout', cause: original });
    case 'max-size':
      return failureOf('http_response_body_size', { code: 'max-size', cause: original });
    case 'system':
      if (/^Invalid response body while trying to fetch/.test(text(node.message))) {
        return inBody(inspect(node.cause, original, seen), node, original);
      }
      return undefined; // its code and erroredSysCall decide, in byCode
  }
  return notGateway; // invalid-json, max-redirect, no-redirect: the response arrived and was a valid one
}

/**
 * undici's errors that carry a received status: `ResponseError` (v7 `interceptors.responseError()`),
 * `ResponseStatusCodeError` (v5/v6 `throwOnError`), and `RequestRetryError` (`RetryAgent` out of retries).
 */
function fromUndiciStatus(node: ErrorLike, original: unknown): Finding {
  const code = node.code;
  if (code !== 'UND_ERR_RESPONSE' && code !== 'UND_ERR_RESPONSE_STATUS_CODE' && code !== 'UND_ERR_REQ_RETRY') {
    return undefined;
  }
  const status = Number(node.statusCode ?? node.status);
  if (!Number.isInteger(status)) return undefined;
  return status >= 500 ? upstreamStatus(status, node.headers, original) : notGateway;
}

/** A received upstream status: a gateway failure only when it is a 5xx; its Retry-After is parsed, never copied. */
function upstreamStatus(status: number, headers: unknown, original: unknown): Finding {
  if (!Number.isInteger(status) || status < 500 || status > 599) return notGateway;
  return receivedFailure(status, headerOf(headers, 'retry-after'), headerOf(headers, 'date'), { cause: original });
}

/** One header of a Fetch `Headers`, an AxiosHeaders (both have `get`), or a plain object in any letter case. */
function headerOf(headers: unknown, name: string): string | undefined {
  if (!isObject(headers)) return undefined;
  if (typeof headers.get === 'function') {
    const value: unknown = headers.get(name);
    return typeof value === 'string' ? value : undefined;
  }
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name) return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

/**
 * http-errors and friends (Koa's `ctx.throw`, Fastify's errors): a declared `status` or `statusCode`. 502, 503 and
 * 504 are gateway failures of no known type, with the Retry-After of their `headers`; a 4xx is the application's
 * answer and stops the search, whatever it wraps (body-parser's "request aborted" carries ECONNABORTED).
 */
function fromDeclaredStatus(node: ErrorLike, original: unknown): Finding {
  const status = Number(node.status ?? node.statusCode);
  if (!Number.isInteger(status)) return undefined;
  if (status >= 400 && status <= 499) return notGateway;
  if (status !== 502 && status !== 503 && status !== 504) return undefined;
  return declaredFailure(status, {
    retryAfter: parseRetryAfter(headerOf(node.headers, 'retry-after')),
    cause: original,
  });
}

/** Node system, DNS, TLS and parser errors, and undici's codes. */
function byCode(node: ErrorLike, original: unknown): Finding {
  const code = node.code;
  if (typeof code !== 'string') return undefined;
  const known = (type: FailureType, details: FailureDetails = {}) =>
    failureOf(type, { code, cause: original, ...details });
  // node-fetch copies a system error's code and keeps its syscall as `erroredSysCall`.
  const syscall = text(node.syscall) || text(node.erroredSysCall);

  // DNS: getaddrinfo (dns.lookup, what http and net use) and c-ares (dns.resolve*: queryA, queryAaaa, ...). Whatever
  // the code (c-ares reports a refusing name server as ECONNREFUSED), the name did not resolve.
  if (syscall === 'getaddrinfo' || syscall.startsWith('query')) {
    // EAI_AGAIN is getaddrinfo's "temporary failure": glibc returns it when the name servers do not answer in time.
    return known(code === 'EAI_AGAIN' || code === 'ETIMEOUT' ? 'dns_timeout' : 'dns_error');
  }
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
    case 'EAI_NODATA':
    case 'ENODATA':
      return known('dns_error');
    case 'EAI_AGAIN':
      return known('dns_timeout');
    case 'ECONNREFUSED':
      return known('connection_refused');
    // RFC 9209 §2.3.6: "cannot find a route to the next hop IP address".
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return known('destination_ip_unroutable');
    case 'ETIMEDOUT':
      // The kernel gave up: on connect (SYN unanswered), or on an established connection while writing or reading.
      if (syscall === 'write') return known('connection_write_timeout');
      // A read that times out at the TCP level has our request unacknowledged or no answer at all: no head came.
      if (syscall === 'read') return known('connection_read_timeout', { phase: 'response-head' });
      return known('connection_timeout');
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'EPIPE':
      return fromReset(node, code, syscall, original);
    case 'UND_ERR_CONNECT_TIMEOUT':
      // undici's connect timeout covers TCP and TLS alike; the request was not sent.
      return known('connection_timeout');
    case 'UND_ERR_HEADERS_TIMEOUT':
      return known('http_response_timeout');
    case 'UND_ERR_BODY_TIMEOUT':
      return known('connection_read_timeout');
    case 'UND_ERR_SOCKET':
      // "other side closed": before the head or in the body, undici does not say; fetch's `terminated` does.
      return known('connection_terminated');
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'HPE_HEADER_OVERFLOW':
      return known('http_response_header_section_size');
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return known('http_response_incomplete', { phase: 'response-body' });
    case 'UND_ERR_RES_EXCEEDED_MAX_SIZE':
      return known('http_response_body_size');
    // BalancedPool with no upstream left: nothing healthy to send to (RFC 9209 §2.3.4).
    case 'UND_ERR_BPL_MISSING_UPSTREAM':
      return known('destination_unavailable');
    // The caller's own doing, not the upstream's: an abort, or a request on a client this process closed or
    // destroyed. RFC 9209 would call the latter proxy_internal_error (§2.3.30, 500, "unrelated to the origin"),
    // which is the application's 500 to answer, not a 502 to blame on the upstream.
    case 'UND_ERR_ABORTED':
    case 'UND_ERR_ABORT':
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
    case 'ABORT_ERR':
    case 'ERR_CANCELED':
      return notGateway;
    case 'HPE_INVALID_EOF_STATE':
      // The connection closed in the middle of the head.
      return known('http_response_incomplete');
    // A chunked body that does not parse (RFC 9209 §2.3.24); an invalid Transfer-Encoding is found in the head.
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return known('http_response_transfer_coding');
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return known('http_response_transfer_coding', { phase: 'response-head' });
    case 'EPROTO':
      // Node's https reports OpenSSL failures as EPROTO with OpenSSL's reason in the message.
      return known(/alert/i.test(text(node.message)) ? 'tls_alert_received' : 'tls_protocol_error');
  }
  if (code.startsWith('HPE_')) return known('http_protocol_error');
  if (tlsCertificateCodes.has(code)) return known('tls_certificate_error');
  if (code.startsWith('ERR_SSL_')) {
    // OpenSSL names an alert the peer sent as ..._ALERT_... (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION).
    return known(code.includes('_ALERT_') ? 'tls_alert_received' : 'tls_protocol_error');
  }
  // The upstream's Diffie-Hellman parameters are too weak for Node to accept.
  if (code === 'ERR_TLS_DH_PARAM_SIZE') return known('tls_protocol_error');
  return undefined;
}

/**
 * OpenSSL's certificate verification results as Node reports them in `err.code` (X509_V_ERR_* without the
 * prefix), and Node's own hostname check.
 */
const tlsCertificateCodes: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * A connection closed under us. Node says "aborted" when a response was cut in its body, "Client network socket
 * disconnected before secure TLS connection was established" during the handshake, and "socket hang up" (or
 * "read ECONNRESET") when it closed before a complete response head. `syscall` says more: a reset reported by
 * `connect` came before any byte was written; one reported by `write` (and every EPIPE) while sending the request.
 */
function fromReset(node: ErrorLike, code: string, syscall: string, original: unknown): GatewayFailure {
  const message = text(node.message);
  const known = (type: FailureType, details: FailureDetails = {}) =>
    failureOf(type, { code, cause: original, ...details });
  if (message === 'aborted') return known('http_response_incomplete', { phase: 'response-body' });
  if (/before secure TLS connection/.test(message)) {
    return known('connection_terminated', { phase: 'tls', mayHaveReachedUpstream: false });
  }
  if (syscall === 'connect') return known('connection_terminated', { phase: 'connect', mayHaveReachedUpstream: false });
  if (code === 'EPIPE' || syscall === 'write') return known('connection_terminated', { phase: 'request' });
  return known('connection_terminated');
}

/**
 * An error known by its name alone. undici 7 and 8 (npm's, and the one in Node 24's fetch) leave an
 * HTTPParserError's `code` undefined: they look llhttp's error number up in a table that only maps names to numbers.
 * The name still says the response did not parse (RFC 9209 §2.3.28); which rule it broke is only in the message,
 * which is not read. The code reported is the name, as for `TimeoutError`.
 */
function byName(node: ErrorLike, original: unknown): Finding {
  if (node.name !== 'HTTPParserError') return undefined;
  return failureOf('http_protocol_error', { code: 'HTTPParserError', cause: original });
}

/** An error known by its message alone: Node's "socket hang up" without its code (some wrappers drop it). */
function byMessage(node: ErrorLike, original: unknown): Finding {
  if (node.message === 'socket hang up' && node.code === undefined) {
    return failureOf('connection_terminated', { code: 'ECONNRESET', cause: original });
  }
  return undefined;
}
