import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { gunzipSync } from 'node:zlib';
import {
  BadGatewayError,
  classify,
  clientWentAway,
  type FailurePhase,
  type FailureType,
  type GatewayFailure,
  ServiceUnavailableError,
} from '@gateway-errors/core';
import {
  badHeaderUpstream,
  dieMidBodyUpstream,
  echoUpstream,
  garbageUpstream,
  hangingUpstream,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  stallMidBodyUpstream,
  statusUpstream,
  testCA,
  tlsUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import axios from 'axios';
import got from 'got';
import httpProxy from 'http-proxy';
import { createProxyServer } from 'http-proxy-3';
import nodeFetch from 'node-fetch';
import nodeFetch2 from 'node-fetch2';
import {
  Agent,
  BalancedPool,
  Client,
  interceptors,
  RetryAgent,
  fetch as undiciFetch,
  request as undiciRequest,
} from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  caught,
  closeAll,
  closedUdpPort,
  dnsServer,
  endlessBody,
  httpsServer,
  invalidHost,
  nodeRequestError,
  type ProxyEngine,
  proxiedError,
  tcpServer,
  track,
  unacceptingPort,
} from './classify-sources.js';

afterEach(closeAll);

/** What a row must classify as: exactly these fields (the rest of the failure is checked elsewhere). */
interface Expected {
  status: number;
  type: FailureType | undefined;
  phase: FailurePhase;
  mayHaveReachedUpstream: boolean;
  code: string | undefined;
  retryAfter?: number;
  receivedStatus?: number;
}

interface Row {
  name: string;
  /** Makes the error: from a real client and server (`real`), or by hand with the fields Node sets (`shape`). */
  make: () => unknown;
  /**
   * Fields the raw error must have, by path (`cause.code`): documents the real shape, and fails loudly if a client
   * library changes it, instead of silently testing something else.
   */
  raw?: Record<string, unknown>;
  /** The failure it must become, or `undefined`: not a gateway failure, passed on unchanged. */
  expected: Expected | undefined;
  /** The failure's `cause` is not the error itself (our own errors keep their own cause). */
  ownCause?: boolean;
}

const failure = (
  status: number,
  type: FailureType | undefined,
  phase: FailurePhase,
  mayHaveReachedUpstream: boolean,
  code: string | undefined,
  extra: Partial<Expected> = {},
): Expected => ({ status, type, phase, mayHaveReachedUpstream, code, ...extra });

const up = async (start: () => Promise<Upstream>): Promise<Upstream> => track(await start());

/** Aborts `controller` once `upstream` has the request: the call is then in flight, however slow the machine. */
function abortOnArrival(upstream: Upstream, controller: AbortController): void {
  const poll = setInterval(() => {
    if (upstream.requests === 0) return;
    clearInterval(poll);
    controller.abort();
  }, 5);
}
const https = (server: { url: string }): string => server.url.replace('http:', 'https:');
const message = (pattern: RegExp) => expect.stringMatching(pattern);

/** The bytes of a response that a raw upstream sends, and then closes. */
const rawResponse = (bytes: string) => up(() => garbageUpstream({ bytes }));
const badChunk = () => rawResponse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n');
const notGzip = () => rawResponse('HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\nnot gzip!!');
const twoLengths = () => rawResponse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello');
const closedBeforeHead = () => rawResponse('');
const tooLong = () => rawResponse('HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789');

/** A Node system error as libuv reports it: `syscall CODE address:port`, with errno, code, syscall, address, port. */
function systemError(code: string, errno: number, syscall: string, address?: string, port?: number): Error {
  const where = address === undefined ? '' : ` ${address}${port === undefined ? '' : `:${port}`}`;
  return Object.assign(new Error(`${syscall} ${code}${where}`), { errno, code, syscall, address, port });
}

/**
 * The real ENOTFOUND of a `.invalid` name, or, if this machine's resolver hangs instead of failing, the same shape
 * by hand (bounded, so a broken resolver cannot hang the suite).
 */
async function unresolvable(make: (signal: AbortSignal) => Promise<unknown>, wrap: (e: Error) => unknown) {
  let error: unknown;
  try {
    error = await make(AbortSignal.timeout(5000));
  } catch (thrown) {
    error = thrown;
  }
  if (at(error, 'code') === 'ENOTFOUND' || at(error, 'cause.code') === 'ENOTFOUND') return error;
  return wrap(
    Object.assign(new Error(`getaddrinfo ENOTFOUND ${invalidHost}`), {
      errno: -3008,
      code: 'ENOTFOUND',
      syscall: 'getaddrinfo',
      hostname: invalidHost,
    }),
  );
}

/**
 * The raw error is made by what the running Node bundles (OpenSSL, llhttp, undici), and that moves between lines and
 * even patch releases. Where it differs, the rows below say what each produces; the classification must not differ
 * where a code exists, since classify() reads codes, not wording. `pnpm test:node 22` runs the table on another line.
 */
const nodeLine = Number(process.versions.node.split('.')[0]);

/** The value for the running Node line: that of the newest line listed that is not newer than it. */
function sinceLine<T>(values: Record<number, T>): T {
  const line = Object.keys(values)
    .map(Number)
    .filter((listed) => listed <= nodeLine)
    .sort((a, b) => b - a)[0];
  if (line === undefined) throw new Error(`no value for Node ${nodeLine} in ${JSON.stringify(values)}`);
  return values[line] as T;
}

/**
 * OpenSSL's verdict when a plain-HTTP server answers a ClientHello, reading "HTTP/1.1 400" as a TLS record header
 * whose version and length are both wrong. OpenSSL 3.5 before 3.5.6 checks the length first (a regression,
 * openssl/openssl#30196, fixed by #30411): Node 22.21.0 (OpenSSL 3.5.4) and 24.9.0 (3.5.3) say "packet length too
 * long". OpenSSL 3.0 (Node 20) and 3.5.6 and later (Node 22.22.3, 22.23.3, 24.21.0) say "wrong version number".
 */
const plainHttpOverTls = (() => {
  const [major, minor, patch] = process.versions.openssl.split(/[.+-]/).map(Number);
  return major === 3 && minor === 5 && (patch as number) < 6
    ? { code: 'ERR_SSL_PACKET_LENGTH_TOO_LONG', reason: 'packet length too long' }
    : { code: 'ERR_SSL_WRONG_VERSION_NUMBER', reason: 'wrong version number' };
})();

/**
 * The code of an HTTPParserError from the undici Node bundles, which parses for Node's fetch (and for undici's
 * request() through the global dispatcher Node's fetch installed first): undici 6 on Node 20 and 22 names llhttp's
 * error; undici 7 on Node 24 leaves `code` undefined, as npm's undici 7 does (the "undici 7 Agent" rows).
 */
const bundledUndiciCode = (code: string): string | undefined => sinceLine({ 20: code, 24: undefined });

const noRetry = got.extend({ retry: { limit: 0 } });
const engines: Array<[string, () => ProxyEngine]> = [
  ['http-proxy', () => httpProxy.createProxyServer({}) as unknown as ProxyEngine],
  ['http-proxy-3', () => createProxyServer({}) as unknown as ProxyEngine],
];

const nodeRows: Row[] = [
  {
    name: 'node:http: connection refused',
    make: async () => nodeRequestError((await up(refusingUpstream)).url),
    raw: { code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '127.0.0.1' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'node:http: reset while connecting ("connect ECONNRESET"): nothing was sent',
    make: async () => nodeRequestError((await up(resetOnAccept)).url),
    raw: { code: 'ECONNRESET', syscall: 'connect', message: message(/^connect ECONNRESET 127\.0\.0\.1:\d+$/) },
    expected: failure(502, 'connection_terminated', 'connect', false, 'ECONNRESET'),
  },
  {
    name: 'node:http: reset after the request ("read ECONNRESET")',
    make: async () => nodeRequestError((await up(resetAfterRequest)).url),
    raw: { code: 'ECONNRESET', errno: -104, syscall: 'read', message: 'read ECONNRESET' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'node:http: closed before any response byte ("socket hang up")',
    make: async () => nodeRequestError((await closedBeforeHead()).url),
    raw: { code: 'ECONNRESET', message: 'socket hang up' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'node:http: not HTTP at all (llhttp HPE_INVALID_CONSTANT)',
    make: async () => nodeRequestError((await up(garbageUpstream)).url),
    raw: { code: 'HPE_INVALID_CONSTANT', message: message(/^Parse Error: Expected HTTP\//) },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HPE_INVALID_CONSTANT'),
  },
  {
    name: 'node:http: control byte in a header value (HPE_INVALID_HEADER_TOKEN)',
    make: async () => nodeRequestError((await up(badHeaderUpstream)).url),
    raw: { code: 'HPE_INVALID_HEADER_TOKEN', reason: 'Invalid header value char' },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HPE_INVALID_HEADER_TOKEN'),
  },
  {
    name: 'node:http: two Content-Length values (HPE_UNEXPECTED_CONTENT_LENGTH)',
    make: async () => nodeRequestError((await twoLengths()).url),
    raw: { code: 'HPE_UNEXPECTED_CONTENT_LENGTH' },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HPE_UNEXPECTED_CONTENT_LENGTH'),
  },
  {
    name: 'node:http: head over 16 KiB (HPE_HEADER_OVERFLOW)',
    make: async () => nodeRequestError((await up(oversizedHeadUpstream)).url),
    raw: { code: 'HPE_HEADER_OVERFLOW', reason: 'Header overflow' },
    expected: failure(502, 'http_response_header_section_size', 'response-head', true, 'HPE_HEADER_OVERFLOW'),
  },
  {
    name: 'node:http: bad chunk size in the body (HPE_INVALID_CHUNK_SIZE)',
    make: async () => nodeRequestError((await badChunk()).url),
    raw: { code: 'HPE_INVALID_CHUNK_SIZE' },
    expected: failure(502, 'http_response_transfer_coding', 'response-body', true, 'HPE_INVALID_CHUNK_SIZE'),
  },
  {
    name: 'node:http: closed mid-body, Content-Length ("aborted")',
    make: async () => nodeRequestError((await up(dieMidBodyUpstream)).url),
    raw: { code: 'ECONNRESET', message: 'aborted' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ECONNRESET'),
  },
  {
    name: 'node:http: closed mid-body, chunked ("aborted")',
    make: async () => nodeRequestError((await up(() => dieMidBodyUpstream({ framing: 'chunked' }))).url),
    raw: { code: 'ECONNRESET', message: 'aborted' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ECONNRESET'),
  },
  {
    name: 'node:https: self-signed certificate (Node 24 adds a hint to the message)',
    make: async () => nodeRequestError((await up(tlsUpstream)).url),
    raw: {
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      message: sinceLine({
        20: 'self-signed certificate',
        24: 'self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
      }),
    },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
  },
  {
    name: 'node:https: expired certificate (test CA trusted)',
    make: async () => nodeRequestError((await up(() => tlsUpstream({ certificate: 'expired' }))).url, { ca: testCA }),
    raw: { code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'CERT_HAS_EXPIRED'),
  },
  {
    name: 'node:https: certificate for another host (test CA trusted)',
    make: async () => nodeRequestError((await up(() => tlsUpstream({ certificate: 'wrongHost' }))).url, { ca: testCA }),
    raw: { code: 'ERR_TLS_CERT_ALTNAME_INVALID', host: '127.0.0.1' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'ERR_TLS_CERT_ALTNAME_INVALID'),
  },
  {
    name: 'node:https: certificate from an unknown CA',
    make: async () => nodeRequestError((await up(() => tlsUpstream({ certificate: 'valid' }))).url),
    raw: { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
  },
  {
    name: "node:https: TLS to a plain-HTTP port (EPROTO, with OpenSSL's reason in the message)",
    make: async () => nodeRequestError(https(await up(echoUpstream))),
    raw: { code: 'EPROTO', syscall: 'write', message: message(new RegExp(`:${plainHttpOverTls.reason}:`)) },
    expected: failure(502, 'tls_protocol_error', 'tls', false, 'EPROTO'),
  },
  {
    name: 'node:https: protocol_version alert from a TLS 1.3-only upstream (EPROTO)',
    make: async () =>
      nodeRequestError((await httpsServer({ minVersion: 'TLSv1.3' })).url, { ca: testCA, maxVersion: 'TLSv1.2' }),
    raw: { code: 'EPROTO', message: message(/alert protocol version/) },
    expected: failure(502, 'tls_alert_received', 'tls', false, 'EPROTO'),
  },
  {
    name: 'node:https: certificate_required alert from an upstream that wants a client certificate',
    make: async () =>
      nodeRequestError((await httpsServer({ requestCert: true, rejectUnauthorized: true, ca: testCA })).url, {
        ca: testCA,
      }),
    raw: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    expected: failure(502, 'tls_alert_received', 'tls', false, 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'),
  },
  {
    name: 'node:https: upstream closes during the handshake',
    make: async () => nodeRequestError(https(await tcpServer((socket) => socket.end()))),
    raw: {
      code: 'ECONNRESET',
      message: 'Client network socket disconnected before secure TLS connection was established',
    },
    expected: failure(502, 'connection_terminated', 'tls', false, 'ECONNRESET'),
  },
  {
    name: 'node:http: AbortSignal.timeout() against a hanging upstream (AbortError, cause TimeoutError)',
    make: async () => nodeRequestError((await up(hangingUpstream)).url, { signal: AbortSignal.timeout(150) }),
    raw: { name: 'AbortError', code: 'ABORT_ERR', 'cause.name': 'TimeoutError' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'TimeoutError'),
  },
  {
    name: 'node:http: name under .invalid (ENOTFOUND)',
    make: () =>
      unresolvable(
        (signal) => nodeRequestError(`http://${invalidHost}/`, { signal }),
        (e) => e,
      ),
    raw: { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: invalidHost },
    expected: failure(502, 'dns_error', 'dns', false, 'ENOTFOUND'),
  },
];

const fetchRows: Row[] = [
  {
    name: 'fetch: connection refused (TypeError "fetch failed", cause ECONNREFUSED)',
    make: async () => caught(async () => fetch((await up(refusingUpstream)).url)),
    raw: { name: 'TypeError', message: 'fetch failed', 'cause.code': 'ECONNREFUSED', 'cause.syscall': 'connect' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'fetch: reset while connecting',
    make: async () => caught(async () => fetch((await up(resetOnAccept)).url)),
    raw: { message: 'fetch failed', 'cause.code': 'ECONNRESET', 'cause.syscall': 'connect' },
    expected: failure(502, 'connection_terminated', 'connect', false, 'ECONNRESET'),
  },
  {
    name: 'fetch: reset after the request',
    make: async () => caught(async () => fetch((await up(resetAfterRequest)).url)),
    raw: { message: 'fetch failed', 'cause.code': 'ECONNRESET', 'cause.syscall': 'read' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'fetch: closed before any response byte (UND_ERR_SOCKET "other side closed")',
    make: async () => caught(async () => fetch((await closedBeforeHead()).url)),
    raw: { message: 'fetch failed', 'cause.code': 'UND_ERR_SOCKET', 'cause.message': 'other side closed' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'UND_ERR_SOCKET'),
  },
  {
    name: 'fetch: not HTTP (HTTPParserError: HPE_INVALID_CONSTANT, no code on Node 24)',
    make: async () => caught(async () => fetch((await up(garbageUpstream)).url)),
    raw: {
      message: 'fetch failed',
      'cause.name': 'HTTPParserError',
      'cause.code': bundledUndiciCode('HPE_INVALID_CONSTANT'),
    },
    expected: failure(
      502,
      'http_protocol_error',
      'response-head',
      true,
      sinceLine({
        20: 'HPE_INVALID_CONSTANT',
        24: 'HTTPParserError',
      }),
    ),
  },
  {
    name: 'fetch: control byte in a header value (HPE_INVALID_HEADER_TOKEN, no code on Node 24)',
    make: async () => caught(async () => fetch((await up(badHeaderUpstream)).url)),
    raw: { 'cause.name': 'HTTPParserError', 'cause.code': bundledUndiciCode('HPE_INVALID_HEADER_TOKEN') },
    expected: failure(
      502,
      'http_protocol_error',
      'response-head',
      true,
      sinceLine({
        20: 'HPE_INVALID_HEADER_TOKEN',
        24: 'HTTPParserError',
      }),
    ),
  },
  {
    name: 'fetch: head too large (UND_ERR_HEADERS_OVERFLOW)',
    make: async () => caught(async () => fetch((await up(oversizedHeadUpstream)).url)),
    raw: { 'cause.code': 'UND_ERR_HEADERS_OVERFLOW' },
    expected: failure(502, 'http_response_header_section_size', 'response-head', true, 'UND_ERR_HEADERS_OVERFLOW'),
  },
  {
    name: 'fetch: closed mid-body (TypeError "terminated", cause UND_ERR_SOCKET)',
    make: async () => caught(async () => (await fetch((await up(dieMidBodyUpstream)).url)).text()),
    raw: { name: 'TypeError', message: 'terminated', 'cause.code': 'UND_ERR_SOCKET' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'UND_ERR_SOCKET'),
  },
  {
    // Without the code (Node 24), "chunk size" is only in the message: a protocol error in the body, still a 502.
    name: 'fetch: bad chunk size mid-body ("terminated", cause HPE_INVALID_CHUNK_SIZE, no code on Node 24)',
    make: async () => caught(async () => (await fetch((await badChunk()).url)).text()),
    raw: {
      message: 'terminated',
      'cause.name': 'HTTPParserError',
      'cause.code': bundledUndiciCode('HPE_INVALID_CHUNK_SIZE'),
    },
    expected: sinceLine({
      20: failure(502, 'http_response_transfer_coding', 'response-body', true, 'HPE_INVALID_CHUNK_SIZE'),
      24: failure(502, 'http_protocol_error', 'response-body', true, 'HTTPParserError'),
    }),
  },
  {
    name: 'fetch: gzip body that is not gzip ("terminated", cause Z_DATA_ERROR)',
    make: async () => caught(async () => (await fetch((await notGzip()).url)).text()),
    raw: { message: 'terminated', 'cause.code': 'Z_DATA_ERROR' },
    expected: failure(502, 'http_response_content_coding', 'response-body', true, 'Z_DATA_ERROR'),
  },
  {
    name: 'fetch: self-signed certificate',
    make: async () => caught(async () => fetch((await up(tlsUpstream)).url)),
    raw: { message: 'fetch failed', 'cause.code': 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
  },
  {
    name: 'fetch: TLS to a plain-HTTP port (ERR_SSL_WRONG_VERSION_NUMBER, or PACKET_LENGTH_TOO_LONG on OpenSSL 3.5 before 3.5.6)',
    make: async () => caught(async () => fetch(https(await up(echoUpstream)))),
    raw: { 'cause.code': plainHttpOverTls.code, 'cause.reason': plainHttpOverTls.reason },
    expected: failure(502, 'tls_protocol_error', 'tls', false, plainHttpOverTls.code),
  },
  {
    name: 'fetch: upstream closes during the handshake',
    make: async () => caught(async () => fetch(https(await tcpServer((socket) => socket.end())))),
    raw: { 'cause.code': 'ECONNRESET', 'cause.message': message(/before secure TLS connection/) },
    expected: failure(502, 'connection_terminated', 'tls', false, 'ECONNRESET'),
  },
  {
    name: 'fetch: AbortSignal.timeout() against a hanging upstream (TimeoutError)',
    make: async () => caught(async () => fetch((await up(hangingUpstream)).url, { signal: AbortSignal.timeout(150) })),
    raw: { name: 'TimeoutError', message: 'The operation was aborted due to timeout' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'TimeoutError'),
  },
  {
    name: 'fetch: name under .invalid (cause ENOTFOUND)',
    make: () =>
      unresolvable(
        (signal) => fetch(`http://${invalidHost}/`, { signal }),
        (e) => new TypeError('fetch failed', { cause: e }),
      ),
    raw: { message: 'fetch failed', 'cause.code': 'ENOTFOUND', 'cause.syscall': 'getaddrinfo' },
    expected: failure(502, 'dns_error', 'dns', false, 'ENOTFOUND'),
  },
  {
    name: 'fetch (undici 7 Agent): connect timeout (UND_ERR_CONNECT_TIMEOUT)',
    make: async () =>
      caught(async () =>
        undiciFetch((await unacceptingPort()).url, { dispatcher: track(new Agent({ connect: { timeout: 150 } })) }),
      ),
    raw: { message: 'fetch failed', 'cause.code': 'UND_ERR_CONNECT_TIMEOUT' },
    expected: failure(504, 'connection_timeout', 'connect', false, 'UND_ERR_CONNECT_TIMEOUT'),
  },
  {
    name: 'fetch (undici 7 Agent): headersTimeout (UND_ERR_HEADERS_TIMEOUT)',
    make: async () =>
      caught(async () =>
        undiciFetch((await up(hangingUpstream)).url, { dispatcher: track(new Agent({ headersTimeout: 150 })) }),
      ),
    raw: { message: 'fetch failed', 'cause.code': 'UND_ERR_HEADERS_TIMEOUT' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'UND_ERR_HEADERS_TIMEOUT'),
  },
  {
    name: 'fetch (undici 7 Agent): bodyTimeout mid-body ("terminated", cause UND_ERR_BODY_TIMEOUT)',
    make: async () =>
      caught(async () => {
        const dispatcher = track(new Agent({ bodyTimeout: 150 }));
        return (await undiciFetch((await up(stallMidBodyUpstream)).url, { dispatcher })).text();
      }),
    raw: { message: 'terminated', 'cause.code': 'UND_ERR_BODY_TIMEOUT' },
    expected: failure(504, 'connection_read_timeout', 'response-body', true, 'UND_ERR_BODY_TIMEOUT'),
  },
  {
    name: 'fetch (undici 7 Agent): protocol_version alert (ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION)',
    make: async () =>
      caught(async () => {
        const dispatcher = track(new Agent({ connect: { ca: testCA, maxVersion: 'TLSv1.2' } }));
        return undiciFetch((await httpsServer({ minVersion: 'TLSv1.3' })).url, { dispatcher });
      }),
    raw: { 'cause.code': 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' },
    expected: failure(502, 'tls_alert_received', 'tls', false, 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'),
  },
];

const undiciRows: Row[] = [
  {
    name: 'undici.request: connection refused',
    make: async () => caught(async () => undiciRequest((await up(refusingUpstream)).url)),
    raw: { code: 'ECONNREFUSED', syscall: 'connect' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'undici.request: connect timeout (UND_ERR_CONNECT_TIMEOUT)',
    make: async () =>
      caught(async () =>
        undiciRequest((await unacceptingPort()).url, { dispatcher: track(new Agent({ connect: { timeout: 150 } })) }),
      ),
    raw: { name: 'ConnectTimeoutError', code: 'UND_ERR_CONNECT_TIMEOUT' },
    expected: failure(504, 'connection_timeout', 'connect', false, 'UND_ERR_CONNECT_TIMEOUT'),
  },
  {
    name: 'undici.request: headersTimeout (UND_ERR_HEADERS_TIMEOUT)',
    make: async () => caught(async () => undiciRequest((await up(hangingUpstream)).url, { headersTimeout: 150 })),
    raw: { name: 'HeadersTimeoutError', code: 'UND_ERR_HEADERS_TIMEOUT' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'UND_ERR_HEADERS_TIMEOUT'),
  },
  {
    name: 'undici.request: bodyTimeout (UND_ERR_BODY_TIMEOUT)',
    make: async () =>
      caught(async () => (await undiciRequest((await up(stallMidBodyUpstream)).url, { bodyTimeout: 150 })).body.text()),
    raw: { name: 'BodyTimeoutError', code: 'UND_ERR_BODY_TIMEOUT' },
    expected: failure(504, 'connection_read_timeout', 'response-body', true, 'UND_ERR_BODY_TIMEOUT'),
  },
  {
    // undici says "other side closed" before the head and in the body alike: without fetch's `terminated` wrapper
    // nothing tells them apart, so this is the conservative reading (502 either way).
    name: 'undici.request: closed mid-body (UND_ERR_SOCKET, indistinguishable from before the head)',
    make: async () => caught(async () => (await undiciRequest((await up(dieMidBodyUpstream)).url)).body.text()),
    raw: { name: 'SocketError', code: 'UND_ERR_SOCKET', message: 'other side closed' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'UND_ERR_SOCKET'),
  },
  {
    // Through the global dispatcher, which is Node's own (its fetch installed it first): see bundledUndiciCode.
    // Without the code, neither the rule broken nor the phase is known: a protocol error, before the head for all
    // undici says (like UND_ERR_SOCKET), still a 502.
    name: 'undici.request: bad chunk size mid-body (HTTPParserError HPE_INVALID_CHUNK_SIZE, no code on Node 24)',
    make: async () => caught(async () => (await undiciRequest((await badChunk()).url)).body.text()),
    raw: { name: 'HTTPParserError', code: bundledUndiciCode('HPE_INVALID_CHUNK_SIZE') },
    expected: sinceLine({
      20: failure(502, 'http_response_transfer_coding', 'response-body', true, 'HPE_INVALID_CHUNK_SIZE'),
      24: failure(502, 'http_protocol_error', 'response-head', true, 'HTTPParserError'),
    }),
  },
  {
    // npm undici 7 and 8 (7.16, 7.30 and 8.13 checked) look llhttp's error number up in a name-to-number table, so
    // `code` is undefined on every Node line; only the name says the response did not parse.
    name: 'undici 7 Agent: not HTTP (HTTPParserError without a code)',
    make: async () =>
      caught(async () => undiciRequest((await up(garbageUpstream)).url, { dispatcher: track(new Agent()) })),
    raw: { name: 'HTTPParserError', code: undefined, message: message(/\(Expected HTTP\/, RTSP\/ or ICE\/\)$/) },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HTTPParserError'),
  },
  {
    name: 'fetch (undici 7 Agent): bad chunk size mid-body ("terminated", HTTPParserError without a code)',
    make: async () =>
      caught(async () => {
        const dispatcher = track(new Agent());
        return (await undiciFetch((await badChunk()).url, { dispatcher })).text();
      }),
    raw: { message: 'terminated', 'cause.name': 'HTTPParserError', 'cause.code': undefined },
    expected: failure(502, 'http_protocol_error', 'response-body', true, 'HTTPParserError'),
  },
  {
    name: 'undici.request: maxResponseSize exceeded (UND_ERR_RES_EXCEEDED_MAX_SIZE)',
    make: async () =>
      caught(async () => {
        const dispatcher = track(new Agent({ maxResponseSize: 5 }));
        return (await undiciRequest((await tooLong()).url, { dispatcher })).body.text();
      }),
    raw: { code: 'UND_ERR_RES_EXCEEDED_MAX_SIZE' },
    expected: failure(502, 'http_response_body_size', 'response-body', true, 'UND_ERR_RES_EXCEEDED_MAX_SIZE'),
  },
  {
    name: 'undici 7 interceptors.responseError(): 503 with Retry-After (ResponseError UND_ERR_RESPONSE)',
    make: async () =>
      caught(async () => {
        const dispatcher = track(new Agent()).compose(interceptors.responseError());
        return undiciRequest((await up(() => statusUpstream({ retryAfter: '7' }))).url, { dispatcher });
      }),
    raw: { name: 'ResponseError', code: 'UND_ERR_RESPONSE', statusCode: 503, 'headers.retry-after': '7' },
    expected: failure(503, undefined, 'response-head', true, undefined, { receivedStatus: 503, retryAfter: 7 }),
  },
  {
    name: 'undici RetryAgent out of retries on 503 (RequestRetryError UND_ERR_REQ_RETRY)',
    make: async () =>
      caught(async () => {
        const agent = new RetryAgent(track(new Agent()), {
          maxRetries: 1,
          minTimeout: 10,
          maxTimeout: 10,
          retryAfter: false,
        });
        const { url } = await up(() => statusUpstream({ status: 503 }));
        return agent.request({ origin: url, path: '/', method: 'GET' });
      }),
    raw: { name: 'RequestRetryError', code: 'UND_ERR_REQ_RETRY', statusCode: 503 },
    expected: failure(503, undefined, 'response-head', true, undefined, { receivedStatus: 503 }),
  },
  {
    name: 'undici BalancedPool with no upstream (UND_ERR_BPL_MISSING_UPSTREAM): nothing healthy',
    make: () => caught(() => track(new BalancedPool([])).request({ path: '/', method: 'GET' })),
    raw: { code: 'UND_ERR_BPL_MISSING_UPSTREAM' },
    expected: failure(503, 'destination_unavailable', 'gateway', false, 'UND_ERR_BPL_MISSING_UPSTREAM'),
  },
  {
    // undici 7 removed `throwOnError`; v5 and v6 threw this shape, by hand with their fields.
    name: 'undici 5/6 throwOnError: ResponseStatusCodeError 502 (shape)',
    make: () =>
      Object.assign(new Error('Response status code 502: Bad Gateway'), {
        name: 'ResponseStatusCodeError',
        code: 'UND_ERR_RESPONSE_STATUS_CODE',
        status: 502,
        statusCode: 502,
        headers: { 'retry-after': '30', date: 'Wed, 21 Oct 2015 07:28:00 GMT' },
        body: 'bad gateway',
      }),
    expected: failure(502, undefined, 'response-head', true, undefined, { receivedStatus: 502, retryAfter: 30 }),
  },
];

const axiosRows: Row[] = [
  {
    name: 'axios: connection refused (AxiosError, cause ECONNREFUSED)',
    make: async () => caught(async () => axios.get((await up(refusingUpstream)).url)),
    raw: { isAxiosError: true, code: 'ECONNREFUSED', 'cause.syscall': 'connect' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'axios: reset while connecting: the cause keeps the syscall axios drops',
    make: async () => caught(async () => axios.get((await up(resetOnAccept)).url)),
    raw: { code: 'ECONNRESET', syscall: undefined, 'cause.syscall': 'connect' },
    expected: failure(502, 'connection_terminated', 'connect', false, 'ECONNRESET'),
  },
  {
    name: 'axios: reset after the request',
    make: async () => caught(async () => axios.get((await up(resetAfterRequest)).url)),
    raw: { code: 'ECONNRESET', 'cause.syscall': 'read' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'axios: not HTTP',
    make: async () => caught(async () => axios.get((await up(garbageUpstream)).url)),
    raw: { code: 'HPE_INVALID_CONSTANT' },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HPE_INVALID_CONSTANT'),
  },
  {
    name: 'axios: self-signed certificate',
    make: async () => caught(async () => axios.get((await up(tlsUpstream)).url)),
    raw: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
  },
  {
    name: 'axios: its timeout option (ECONNABORTED "timeout of 150ms exceeded")',
    make: async () => caught(async () => axios.get((await up(hangingUpstream)).url, { timeout: 150 })),
    raw: { code: 'ECONNABORTED', message: 'timeout of 150ms exceeded', cause: undefined },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'ECONNABORTED'),
  },
  {
    name: 'axios: its timeout option with clarifyTimeoutError (ETIMEDOUT)',
    make: async () =>
      caught(async () =>
        axios.get((await up(hangingUpstream)).url, { timeout: 150, transitional: { clarifyTimeoutError: true } }),
      ),
    raw: { code: 'ETIMEDOUT', cause: undefined },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'ETIMEDOUT'),
  },
  {
    name: 'axios: AbortSignal.timeout() (CanceledError; the signal keeps the TimeoutError reason)',
    make: async () =>
      caught(async () => axios.get((await up(hangingUpstream)).url, { signal: AbortSignal.timeout(150) })),
    raw: { name: 'CanceledError', code: 'ERR_CANCELED', 'config.signal.reason.name': 'TimeoutError' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'TimeoutError'),
  },
  {
    name: 'axios: a 503 with Retry-After',
    make: async () => caught(async () => axios.get((await up(() => statusUpstream({ retryAfter: '7' }))).url)),
    raw: { code: 'ERR_BAD_RESPONSE', 'response.status': 503 },
    expected: failure(503, undefined, 'response-head', true, undefined, { receivedStatus: 503, retryAfter: 7 }),
  },
  {
    name: 'axios: a 503 with a garbage Retry-After: dropped, never copied',
    make: async () => caught(async () => axios.get((await up(() => statusUpstream({ retryAfter: '5s' }))).url)),
    raw: { 'response.status': 503 },
    expected: failure(503, undefined, 'response-head', true, undefined, { receivedStatus: 503 }),
  },
  {
    name: 'axios: closed mid-body ("stream has been aborted", with the 200 response)',
    make: async () => caught(async () => axios.get((await up(dieMidBodyUpstream)).url)),
    raw: { code: 'ERR_BAD_RESPONSE', message: 'stream has been aborted', 'response.status': 200 },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ERR_BAD_RESPONSE'),
  },
  {
    name: 'axios: gzip body that is not gzip (Z_DATA_ERROR, with the 200 response)',
    make: async () => caught(async () => axios.get((await notGzip()).url)),
    raw: { code: 'Z_DATA_ERROR', 'response.status': 200 },
    expected: failure(502, 'http_response_content_coding', 'response-body', true, 'Z_DATA_ERROR'),
  },
  {
    name: 'axios: bad chunk size mid-body',
    make: async () => caught(async () => axios.get((await badChunk()).url)),
    raw: { code: 'HPE_INVALID_CHUNK_SIZE' },
    expected: failure(502, 'http_response_transfer_coding', 'response-body', true, 'HPE_INVALID_CHUNK_SIZE'),
  },
  {
    name: 'axios: maxContentLength exceeded',
    make: async () => caught(async () => axios.get((await up(echoUpstream)).url, { maxContentLength: 5 })),
    raw: { code: 'ERR_BAD_RESPONSE', message: 'maxContentLength size of 5 exceeded' },
    expected: failure(502, 'http_response_body_size', 'response-body', true, 'ERR_BAD_RESPONSE'),
  },
  {
    name: 'axios (fetch adapter): connection refused ("Network Error", cause ECONNREFUSED)',
    make: async () => caught(async () => axios.get((await up(refusingUpstream)).url, { adapter: 'fetch' })),
    raw: { code: 'ERR_NETWORK', 'cause.code': 'ECONNREFUSED' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'axios (fetch adapter): closed mid-body (nested "terminated")',
    make: async () => caught(async () => axios.get((await up(dieMidBodyUpstream)).url, { adapter: 'fetch' })),
    raw: { message: 'terminated', 'cause.message': 'terminated', 'cause.cause.code': 'UND_ERR_SOCKET' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'UND_ERR_SOCKET'),
  },
];

const gotRows: Row[] = [
  {
    name: 'got: connection refused (RequestError, cause ECONNREFUSED)',
    make: async () => caught(async () => noRetry((await up(refusingUpstream)).url)),
    raw: { name: 'RequestError', code: 'ECONNREFUSED', 'cause.syscall': 'connect' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'got: reset after the request',
    make: async () => caught(async () => noRetry((await up(resetAfterRequest)).url)),
    raw: { name: 'RequestError', code: 'ECONNRESET', 'cause.syscall': 'read' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'got: not HTTP',
    make: async () => caught(async () => noRetry((await up(garbageUpstream)).url)),
    raw: { name: 'RequestError', code: 'HPE_INVALID_CONSTANT' },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HPE_INVALID_CONSTANT'),
  },
  {
    name: 'got: self-signed certificate',
    make: async () => caught(async () => noRetry((await up(tlsUpstream)).url)),
    raw: { name: 'RequestError', code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
  },
  {
    name: 'got: timeout.lookup (a resolver that never answers)',
    make: async () =>
      caught(async () =>
        noRetry(`http://${invalidHost}/`, {
          timeout: { lookup: 150 },
          dnsLookup: (() => {}) as never,
        }),
      ),
    raw: { name: 'TimeoutError', event: 'lookup', code: 'ETIMEDOUT' },
    expected: failure(504, 'dns_timeout', 'dns', false, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.connect (SYN never answered)',
    make: async () => caught(async () => noRetry((await unacceptingPort()).url, { timeout: { connect: 150 } })),
    raw: { name: 'TimeoutError', event: 'connect', code: 'ETIMEDOUT' },
    expected: failure(504, 'connection_timeout', 'connect', false, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.secureConnect (TLS handshake never answered)',
    make: async () =>
      caught(async () => noRetry(https(await up(hangingUpstream)), { timeout: { secureConnect: 150 } })),
    raw: { name: 'TimeoutError', event: 'secureConnect' },
    expected: failure(504, 'connection_timeout', 'tls', false, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.send (an upload that never completes)',
    make: async () =>
      caught(async () =>
        noRetry.post((await up(hangingUpstream)).url, { body: endlessBody(), timeout: { send: 150 } }),
      ),
    raw: { name: 'TimeoutError', event: 'send' },
    expected: failure(504, 'connection_write_timeout', 'request', true, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.response (no head)',
    make: async () => caught(async () => noRetry((await up(hangingUpstream)).url, { timeout: { response: 150 } })),
    raw: { name: 'TimeoutError', event: 'response' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.request before the head',
    make: async () => caught(async () => noRetry((await up(hangingUpstream)).url, { timeout: { request: 150 } })),
    raw: { name: 'TimeoutError', event: 'request', response: undefined },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.request in the body',
    make: async () => caught(async () => noRetry((await up(stallMidBodyUpstream)).url, { timeout: { request: 300 } })),
    raw: { name: 'TimeoutError', event: 'request', 'response.statusCode': 200 },
    expected: failure(504, 'http_response_timeout', 'response-body', true, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.socket (idle before the head)',
    make: async () => caught(async () => noRetry((await up(hangingUpstream)).url, { timeout: { socket: 150 } })),
    raw: { name: 'TimeoutError', event: 'socket' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'ETIMEDOUT'),
  },
  {
    name: 'got: timeout.read (stalled body)',
    make: async () => caught(async () => noRetry((await up(stallMidBodyUpstream)).url, { timeout: { read: 150 } })),
    raw: { name: 'TimeoutError', event: 'read', 'response.statusCode': 200 },
    expected: failure(504, 'connection_read_timeout', 'response-body', true, 'ETIMEDOUT'),
  },
  {
    name: 'got: AbortSignal.timeout() (TimeoutError)',
    make: async () =>
      caught(async () => noRetry((await up(hangingUpstream)).url, { signal: AbortSignal.timeout(150) })),
    raw: { name: 'TimeoutError', event: undefined },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'TimeoutError'),
  },
  {
    name: 'got: HTTPError 503 with Retry-After',
    make: async () => caught(async () => noRetry((await up(() => statusUpstream({ retryAfter: '7' }))).url)),
    raw: { name: 'HTTPError', 'response.statusCode': 503 },
    expected: failure(503, undefined, 'response-head', true, undefined, { receivedStatus: 503, retryAfter: 7 }),
  },
  {
    name: 'got: closed mid-body (ReadError ECONNRESET, with the 200 response)',
    make: async () => caught(async () => noRetry((await up(dieMidBodyUpstream)).url)),
    raw: { name: 'ReadError', code: 'ECONNRESET', message: 'The server aborted pending request' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ECONNRESET'),
  },
  {
    name: 'got: gzip body that is not gzip (ReadError Z_DATA_ERROR)',
    make: async () => caught(async () => noRetry((await notGzip()).url)),
    raw: { name: 'ReadError', code: 'Z_DATA_ERROR' },
    expected: failure(502, 'http_response_content_coding', 'response-body', true, 'Z_DATA_ERROR'),
  },
  {
    name: 'got: bad chunk size mid-body (RequestError with the 200 response)',
    make: async () => caught(async () => noRetry((await badChunk()).url)),
    raw: { name: 'RequestError', code: 'HPE_INVALID_CHUNK_SIZE', 'response.statusCode': 200 },
    expected: failure(502, 'http_response_transfer_coding', 'response-body', true, 'HPE_INVALID_CHUNK_SIZE'),
  },
];

const nodeFetchRows: Row[] = [
  {
    name: 'node-fetch 3: connection refused (FetchError system, erroredSysCall connect)',
    make: async () => caught(async () => nodeFetch((await up(refusingUpstream)).url)),
    raw: { name: 'FetchError', type: 'system', code: 'ECONNREFUSED', erroredSysCall: 'connect' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'node-fetch 3: reset while connecting (erroredSysCall connect)',
    make: async () => caught(async () => nodeFetch((await up(resetOnAccept)).url)),
    raw: { type: 'system', code: 'ECONNRESET', erroredSysCall: 'connect' },
    expected: failure(502, 'connection_terminated', 'connect', false, 'ECONNRESET'),
  },
  {
    name: 'node-fetch 3: reset after the request',
    make: async () => caught(async () => nodeFetch((await up(resetAfterRequest)).url)),
    raw: { type: 'system', code: 'ECONNRESET', erroredSysCall: 'read' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'node-fetch 3: closed mid-body ("Invalid response body ...: aborted")',
    make: async () => caught(async () => (await nodeFetch((await up(dieMidBodyUpstream)).url)).text()),
    raw: { type: 'system', code: 'ECONNRESET', message: message(/^Invalid response body .*: aborted$/) },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ECONNRESET'),
  },
  {
    name: 'node-fetch 3: closed mid-body, chunked ("Premature close")',
    make: async () =>
      caught(async () => (await nodeFetch((await up(() => dieMidBodyUpstream({ framing: 'chunked' }))).url)).text()),
    raw: { type: 'system', code: 'ERR_STREAM_PREMATURE_CLOSE' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ERR_STREAM_PREMATURE_CLOSE'),
  },
  {
    name: 'node-fetch 3: gzip body that is not gzip',
    make: async () => caught(async () => (await nodeFetch((await notGzip()).url)).text()),
    raw: { type: 'system', code: 'Z_DATA_ERROR' },
    expected: failure(502, 'http_response_content_coding', 'response-body', true, 'Z_DATA_ERROR'),
  },
  {
    name: 'node-fetch 3: name under .invalid (erroredSysCall getaddrinfo)',
    make: () =>
      unresolvable(
        (signal) => nodeFetch(`http://${invalidHost}/`, { signal }),
        (e) => Object.assign(e, { name: 'FetchError', type: 'system', erroredSysCall: 'getaddrinfo' }),
      ),
    raw: { type: 'system', code: 'ENOTFOUND' },
    expected: failure(502, 'dns_error', 'dns', false, 'ENOTFOUND'),
  },
  {
    name: 'node-fetch 2: connection refused',
    make: async () => caught(async () => nodeFetch2((await up(refusingUpstream)).url)),
    raw: { name: 'FetchError', type: 'system', code: 'ECONNREFUSED' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'node-fetch 2: its timeout before the head (type request-timeout)',
    make: async () => caught(async () => nodeFetch2((await up(hangingUpstream)).url, { timeout: 150 })),
    raw: { name: 'FetchError', type: 'request-timeout' },
    expected: failure(504, 'http_response_timeout', 'response-head', true, 'request-timeout'),
  },
  {
    name: 'node-fetch 2: its timeout in the body (type body-timeout)',
    make: async () =>
      caught(async () => (await nodeFetch2((await up(stallMidBodyUpstream)).url, { timeout: 150 })).text()),
    raw: { name: 'FetchError', type: 'body-timeout' },
    expected: failure(504, 'connection_read_timeout', 'response-body', true, 'body-timeout'),
  },
  {
    name: 'node-fetch 2: its size limit (type max-size)',
    make: async () => caught(async () => (await nodeFetch2((await tooLong()).url, { size: 5 })).text()),
    raw: { name: 'FetchError', type: 'max-size' },
    expected: failure(502, 'http_response_body_size', 'response-body', true, 'max-size'),
  },
  {
    name: 'node-fetch 2: closed mid-body, chunked ("Premature close")',
    make: async () =>
      caught(async () => (await nodeFetch2((await up(() => dieMidBodyUpstream({ framing: 'chunked' }))).url)).text()),
    raw: { type: 'system', code: 'ERR_STREAM_PREMATURE_CLOSE' },
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'ERR_STREAM_PREMATURE_CLOSE'),
  },
];

const proxyRows: Row[] = engines.flatMap(([engine, create]): Row[] => [
  {
    name: `${engine} error callback: connection refused`,
    make: async () => proxiedError(create(), (await up(refusingUpstream)).url),
    raw: { code: 'ECONNREFUSED', syscall: 'connect' },
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: `${engine} error callback: reset after the request`,
    make: async () => proxiedError(create(), (await up(resetAfterRequest)).url),
    raw: { code: 'ECONNRESET', syscall: 'read' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: `${engine} error callback: not HTTP`,
    make: async () => proxiedError(create(), (await up(garbageUpstream)).url),
    raw: { code: 'HPE_INVALID_CONSTANT' },
    expected: failure(502, 'http_protocol_error', 'response-head', true, 'HPE_INVALID_CONSTANT'),
  },
  {
    name: `${engine} error callback: self-signed certificate (secure: true)`,
    make: async () => proxiedError(create(), (await up(tlsUpstream)).url, { secure: true }),
    raw: { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
    expected: failure(502, 'tls_certificate_error', 'tls', false, 'DEPTH_ZERO_SELF_SIGNED_CERT'),
  },
  {
    // The engine aborts its own request on proxyTimeout and reports it as a hang-up: nothing in the error says
    // "timeout", so it is a 502. gatewayProxy() runs its own timers and answers 504.
    name: `${engine} error callback: its proxyTimeout ("socket hang up", indistinguishable from a hang-up)`,
    make: async () => proxiedError(create(), (await up(hangingUpstream)).url, { proxyTimeout: 150 }),
    raw: { code: 'ECONNRESET', message: 'socket hang up' },
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
]);

const dnsRows: Row[] = [
  {
    name: 'dns.Resolver (c-ares): name server never answers (ETIMEOUT)',
    make: async () => {
      const resolver = new Resolver({ timeout: 150, tries: 1 });
      resolver.setServers([await dnsServer('silent')]);
      return caught(() => resolver.resolve4(invalidHost));
    },
    raw: { code: 'ETIMEOUT', syscall: 'queryA', hostname: invalidHost },
    expected: failure(504, 'dns_timeout', 'dns', false, 'ETIMEOUT'),
  },
  {
    name: 'dns.Resolver (c-ares): SERVFAIL (ESERVFAIL)',
    make: async () => {
      const resolver = new Resolver({ timeout: 1000, tries: 1 });
      resolver.setServers([await dnsServer('servfail')]);
      return caught(() => resolver.resolve4(invalidHost));
    },
    raw: { code: 'ESERVFAIL', syscall: 'queryA' },
    expected: failure(502, 'dns_error', 'dns', false, 'ESERVFAIL'),
  },
  {
    name: 'dns.Resolver (c-ares): REFUSED (EREFUSED)',
    make: async () => {
      const resolver = new Resolver({ timeout: 1000, tries: 1 });
      resolver.setServers([await dnsServer('refused')]);
      return caught(() => resolver.resolve4(invalidHost));
    },
    raw: { code: 'EREFUSED', syscall: 'queryA' },
    expected: failure(502, 'dns_error', 'dns', false, 'EREFUSED'),
  },
  {
    // No name server on the port: c-ares says ECONNREFUSED, and the syscall says it is DNS, not the upstream.
    name: 'dns.Resolver (c-ares): no name server listening (ECONNREFUSED from queryA is a DNS error)',
    make: async () => {
      const resolver = new Resolver({ timeout: 1000, tries: 1 });
      resolver.setServers([await closedUdpPort()]);
      return caught(() => resolver.resolve4(invalidHost));
    },
    raw: { code: 'ECONNREFUSED', syscall: 'queryA' },
    expected: failure(502, 'dns_error', 'dns', false, 'ECONNREFUSED'),
  },
];

/** Errors Node raises that a loopback test cannot provoke, by hand with the fields Node sets (errno from libuv). */
const shapeRows: Row[] = [
  {
    name: 'shape: EAI_AGAIN from getaddrinfo (resolver timed out or temporarily failed)',
    make: () =>
      Object.assign(systemError('EAI_AGAIN', -3001, 'getaddrinfo', 'api.example'), { hostname: 'api.example' }),
    expected: failure(504, 'dns_timeout', 'dns', false, 'EAI_AGAIN'),
  },
  {
    name: 'shape: EHOSTUNREACH on connect',
    make: () => systemError('EHOSTUNREACH', -113, 'connect', '10.0.0.9', 443),
    raw: { errno: -113 },
    expected: failure(502, 'destination_ip_unroutable', 'connect', false, 'EHOSTUNREACH'),
  },
  {
    name: 'shape: ENETUNREACH on connect',
    make: () => systemError('ENETUNREACH', -101, 'connect', '2001:db8::1', 443),
    expected: failure(502, 'destination_ip_unroutable', 'connect', false, 'ENETUNREACH'),
  },
  {
    name: 'shape: ETIMEDOUT on connect (the kernel gave up on the SYN)',
    make: () => systemError('ETIMEDOUT', -110, 'connect', '10.0.0.9', 443),
    expected: failure(504, 'connection_timeout', 'connect', false, 'ETIMEDOUT'),
  },
  {
    name: 'shape: ETIMEDOUT on read (retransmissions unanswered)',
    make: () => systemError('ETIMEDOUT', -110, 'read'),
    expected: failure(504, 'connection_read_timeout', 'response-head', true, 'ETIMEDOUT'),
  },
  {
    name: 'shape: ETIMEDOUT on write',
    make: () => systemError('ETIMEDOUT', -110, 'write'),
    expected: failure(504, 'connection_write_timeout', 'request', true, 'ETIMEDOUT'),
  },
  {
    name: 'shape: EPIPE on write (upstream closed while we sent the request)',
    make: () => systemError('EPIPE', -32, 'write'),
    expected: failure(502, 'connection_terminated', 'request', true, 'EPIPE'),
  },
  {
    name: 'shape: ECONNABORTED on read',
    make: () => systemError('ECONNABORTED', -103, 'read'),
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNABORTED'),
  },
  {
    name: 'shape: AggregateError of every address refused (net autoSelectFamily)',
    make: () =>
      Object.assign(
        new AggregateError([
          systemError('ECONNREFUSED', -111, 'connect', '::1', 4000),
          systemError('ECONNREFUSED', -111, 'connect', '127.0.0.1', 4000),
        ]),
        { code: 'ECONNREFUSED' },
      ),
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    // undici raises it when its parser stops with a body length that differs from Content-Length; on loopback the
    // same bytes race with HPE_UNEXPECTED_CONTENT_LENGTH, so the shape is built by hand, as undici builds it.
    name: 'shape: undici ResponseContentLengthMismatchError (UND_ERR_RES_CONTENT_LENGTH_MISMATCH)',
    make: () =>
      Object.assign(new Error('Response body length does not match content-length header'), {
        name: 'ResponseContentLengthMismatchError',
        code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
      }),
    expected: failure(502, 'http_response_incomplete', 'response-body', true, 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'),
  },
  {
    name: 'shape: got timeout.connect as got builds it, over a wrapper without the event',
    make: () =>
      new Error('wrapped', {
        cause: Object.assign(new Error("Timeout awaiting 'connect' for 150ms"), {
          name: 'TimeoutError',
          code: 'ETIMEDOUT',
          event: 'connect',
        }),
      }),
    expected: failure(504, 'connection_timeout', 'connect', false, 'ETIMEDOUT'),
  },
  {
    name: 'shape: fetch failed, cause nested twice (a wrapper of a wrapper)',
    make: () =>
      new TypeError('fetch failed', {
        cause: new Error('connect failed', { cause: systemError('ECONNREFUSED', -111, 'connect', '127.0.0.1', 1) }),
      }),
    expected: failure(502, 'connection_refused', 'connect', false, 'ECONNREFUSED'),
  },
  {
    name: 'shape: "socket hang up" with its code dropped by a wrapper',
    make: () => new Error('socket hang up'),
    expected: failure(502, 'connection_terminated', 'response-head', true, 'ECONNRESET'),
  },
  {
    name: 'shape: http-errors 503 with Retry-After (Koa ctx.throw, createError)',
    make: () =>
      Object.assign(new Error('Service Unavailable'), {
        status: 503,
        statusCode: 503,
        expose: false,
        headers: { 'Retry-After': '120' },
      }),
    expected: failure(503, undefined, 'gateway', false, undefined, { retryAfter: 120 }),
  },
  {
    name: 'shape: http-errors 504 that wraps a refused connection: the declared status wins',
    make: () =>
      Object.assign(new Error('Gateway Timeout', { cause: systemError('ECONNREFUSED', -111, 'connect') }), {
        status: 504,
      }),
    expected: failure(504, undefined, 'gateway', false, undefined),
  },
  {
    name: 'our ServiceUnavailableError: its own failure',
    make: () => new ServiceUnavailableError({ retryAfter: 120 }),
    expected: failure(503, undefined, 'gateway', false, undefined, { retryAfter: 120 }),
    ownCause: true,
  },
  {
    name: "our BadGatewayError inside fetch's TypeError: found in the chain",
    make: () => new TypeError('fetch failed', { cause: new BadGatewayError({ type: 'connection_refused' }) }),
    expected: failure(502, 'connection_refused', 'connect', false, undefined),
    ownCause: true,
  },
];

const notGatewayRows: Row[] = [
  { name: 'not ours: a plain Error', make: () => new Error('boom'), expected: undefined },
  {
    name: 'not ours: a TypeError from a bug',
    make: () => caught(() => (null as unknown as { x: { y: number } }).x.y),
    raw: { name: 'TypeError' },
    expected: undefined,
  },
  { name: 'not ours: a thrown string', make: () => 'ECONNREFUSED', expected: undefined },
  { name: 'not ours: null', make: () => null, expected: undefined },
  {
    name: 'not ours: an http-errors 500',
    make: () => Object.assign(new Error('x'), { status: 500 }),
    expected: undefined,
  },
  {
    name: 'not ours: axios 404',
    make: async () => caught(async () => axios.get((await up(() => statusUpstream({ status: 404 }))).url)),
    raw: { code: 'ERR_BAD_REQUEST', 'response.status': 404 },
    expected: undefined,
  },
  {
    name: 'not ours: axios 200 whose body is not the JSON it expected (SyntaxError cause, with the response)',
    make: async () =>
      caught(async () =>
        axios.get((await up(() => statusUpstream({ status: 200, body: 'not json' }))).url, {
          responseType: 'json',
          transitional: { silentJSONParsing: false, forcedJSONParsing: true },
        }),
      ),
    raw: { code: 'ERR_BAD_RESPONSE', 'cause.name': 'SyntaxError', 'response.status': 200 },
    expected: undefined,
  },
  {
    name: 'not ours: got HTTPError 404',
    make: async () => caught(async () => noRetry((await up(() => statusUpstream({ status: 404 }))).url)),
    raw: { name: 'HTTPError', 'response.statusCode': 404 },
    expected: undefined,
  },
  {
    name: 'not ours: undici interceptors.responseError() 404',
    make: async () =>
      caught(async () => {
        const dispatcher = track(new Agent()).compose(interceptors.responseError());
        return undiciRequest((await up(() => statusUpstream({ status: 404 }))).url, { dispatcher });
      }),
    raw: { code: 'UND_ERR_RESPONSE', statusCode: 404 },
    expected: undefined,
  },
  {
    name: "not ours: fetch aborted by the caller's own AbortController",
    make: async () => {
      const upstream = await up(hangingUpstream);
      const { url } = upstream;
      const controller = new AbortController();
      abortOnArrival(upstream, controller);
      return caught(() => fetch(url, { signal: controller.signal }));
    },
    raw: { name: 'AbortError' },
    expected: undefined,
  },
  {
    name: "not ours: node:http aborted by the caller's own AbortController",
    make: async () => {
      const upstream = await up(hangingUpstream);
      const { url } = upstream;
      const controller = new AbortController();
      abortOnArrival(upstream, controller);
      return nodeRequestError(url, { signal: controller.signal });
    },
    raw: { name: 'AbortError', code: 'ABORT_ERR', 'cause.name': 'AbortError' },
    expected: undefined,
  },
  {
    name: "not ours: axios cancelled by the caller's own AbortController",
    make: async () => {
      const upstream = await up(hangingUpstream);
      const { url } = upstream;
      const controller = new AbortController();
      abortOnArrival(upstream, controller);
      return caught(() => axios.get(url, { signal: controller.signal }));
    },
    raw: { name: 'CanceledError', code: 'ERR_CANCELED' },
    expected: undefined,
  },
  {
    name: "not ours: got aborted by the caller's own AbortController",
    make: async () => {
      const upstream = await up(hangingUpstream);
      const { url } = upstream;
      const controller = new AbortController();
      abortOnArrival(upstream, controller);
      return caught(() => noRetry(url, { signal: controller.signal }));
    },
    raw: { name: 'AbortError' },
    expected: undefined,
  },
  {
    name: "not ours: undici.request aborted by the caller's own AbortController",
    make: async () => {
      const upstream = await up(hangingUpstream);
      const { url } = upstream;
      const controller = new AbortController();
      abortOnArrival(upstream, controller);
      return caught(() => undiciRequest(url, { signal: controller.signal }));
    },
    raw: { name: 'AbortError' },
    expected: undefined,
  },
  {
    // RFC 9209 §2.3.30 would call this proxy_internal_error (500): the application's error, not the upstream's.
    name: 'not ours: a request on an undici Client this process closed (UND_ERR_CLOSED)',
    make: async () => {
      const client = new Client((await up(echoUpstream)).url);
      const closing = client.close();
      const error = await caught(() => client.request({ path: '/', method: 'GET' }));
      await closing;
      return error;
    },
    raw: { code: 'UND_ERR_CLOSED' },
    expected: undefined,
  },
  {
    name: 'not ours: a request on an undici Client this process destroyed (UND_ERR_DESTROYED)',
    make: async () => {
      const client = new Client((await up(echoUpstream)).url);
      await client.destroy();
      return caught(() => client.request({ path: '/', method: 'GET' }));
    },
    raw: { code: 'UND_ERR_DESTROYED' },
    expected: undefined,
  },
  {
    name: "not ours: the application's own zlib error (Z_DATA_ERROR outside an HTTP client)",
    make: () => caught(() => gunzipSync(Buffer.from('not gzip'))),
    raw: { code: 'Z_DATA_ERROR' },
    expected: undefined,
  },
  {
    name: 'not ours: body-parser\'s "request aborted" (400 with ECONNABORTED): the client left',
    make: () =>
      Object.assign(new Error('request aborted'), {
        code: 'ECONNABORTED',
        status: 400,
        statusCode: 400,
        expose: true,
        type: 'request.aborted',
      }),
    expected: undefined,
  },
  {
    name: 'not ours: a cause chain that loops',
    make: () => {
      const error = new Error('loop') as Error & { cause?: unknown };
      error.cause = new Error('inner', { cause: error });
      return error;
    },
    expected: undefined,
  },
  {
    // node-fetch 3 replaces the signal's reason with its own AbortError: nothing is left to say it was a timeout.
    name: 'not recognisable: node-fetch 3 with AbortSignal.timeout() (the reason is dropped)',
    make: async () =>
      caught(async () => nodeFetch((await up(hangingUpstream)).url, { signal: AbortSignal.timeout(150) })),
    raw: { name: 'AbortError', type: 'aborted' },
    expected: undefined,
  },
];

const rows: Row[] = [
  ...nodeRows,
  ...fetchRows,
  ...undiciRows,
  ...axiosRows,
  ...gotRows,
  ...nodeFetchRows,
  ...proxyRows,
  ...dnsRows,
  ...shapeRows,
  ...notGatewayRows,
];

/** The value at a dotted path, such as `cause.code`. */
function at(value: unknown, path: string): unknown {
  let current = value;
  for (const key of path.split('.')) {
    if (current === null || current === undefined) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

describe('classify(): every error shape and the failure it must become', () => {
  it('has a row for each source', () => {
    expect(rows.length).toBeGreaterThanOrEqual(130);
    expect(new Set(rows.map((row) => row.name)).size).toBe(rows.length);
  });

  it.each(rows)('$name', async (row) => {
    const error = await row.make();
    for (const [path, value] of Object.entries(row.raw ?? {})) expect(at(error, path), `raw ${path}`).toEqual(value);
    const failure = classify(error);
    if (row.expected === undefined) {
      expect(failure).toBeUndefined();
      return;
    }
    expect(failure).toBeDefined();
    const { status, type, phase, mayHaveReachedUpstream, code, retryAfter, receivedStatus } = failure as GatewayFailure;
    expect({ status, type, phase, mayHaveReachedUpstream, code, retryAfter, receivedStatus }).toEqual({
      retryAfter: undefined,
      receivedStatus: undefined,
      ...row.expected,
    });
    if (!row.ownCause) expect((failure as GatewayFailure).cause).toBe(error);
  });

  it('hand-built system errors use the errno libuv gives their code', () => {
    for (const [code, errno] of [
      ['EHOSTUNREACH', -113],
      ['ENETUNREACH', -101],
      ['ETIMEDOUT', -110],
      ['EPIPE', -32],
      ['ECONNABORTED', -103],
      ['ECONNREFUSED', -111],
      ['EAI_AGAIN', -3001],
    ] as const) {
      expect(getSystemErrorName(errno)).toBe(code);
    }
  });

  it('is pure: the same error classifies the same, and is not changed', () => {
    const error = new TypeError('fetch failed', {
      cause: systemError('ECONNREFUSED', -111, 'connect', '127.0.0.1', 1),
    });
    const before = JSON.stringify({ ...error, cause: { ...(error.cause as object) } });
    expect(classify(error)).toEqual(classify(error));
    expect(JSON.stringify({ ...error, cause: { ...(error.cause as object) } })).toBe(before);
  });
});

describe('clientWentAway()', () => {
  /** A server that hands each request to `onRequest` and records nothing else. */
  async function server(onRequest: (req: IncomingMessage) => void): Promise<number> {
    const http = createServer((req) => onRequest(req));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    track({
      close: () =>
        new Promise<void>((resolve) => {
          http.closeAllConnections();
          http.close(() => resolve());
        }),
    });
    return (http.address() as { port: number }).port;
  }

  function client(port: number, head: string): Socket {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    socket.on('error', () => {});
    track({ close: () => socket.destroy() });
    return socket;
  }

  const waitFor = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (check()) {
          clearInterval(poll);
          resolve();
        }
      }, 5);
    });

  it('is false while the client waits for its answer', async () => {
    let seen: IncomingMessage | undefined;
    const port = await server((req) => {
      seen = req;
    });
    client(port, 'GET /wait HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => seen !== undefined);
    expect(clientWentAway(seen as IncomingMessage)).toBe(false);
    // Read to its end: a request that is over is not a client that went away (not a wait: the event that ends it).
    const request = seen as IncomingMessage;
    request.resume();
    await once(request, 'end');
    expect(clientWentAway(request)).toBe(false);
  });

  it('is true once the client destroyed its connection mid-request', async () => {
    let seen: IncomingMessage | undefined;
    let closed = false;
    const port = await server((req) => {
      seen = req;
      req.on('close', () => {
        closed = true;
      });
    });
    const socket = client(port, 'GET /leave HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => seen !== undefined);
    expect(clientWentAway(seen as IncomingMessage)).toBe(false);
    socket.destroy();
    await waitFor(() => closed);
    expect(clientWentAway(seen as IncomingMessage)).toBe(true);
  });

  it('is true when the client left in the middle of its request body, and the error it leaves is not ours to count', async () => {
    let seen: IncomingMessage | undefined;
    let bodyError: unknown;
    const port = await server((req) => {
      seen = req;
      req.on('error', (error) => {
        bodyError = error;
      });
      req.resume();
    });
    const socket = client(port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
    await waitFor(() => seen !== undefined);
    socket.destroy();
    await waitFor(() => bodyError !== undefined);
    // The incoming request's "aborted" is the same shape as an upstream response cut mid-body: classify() cannot tell
    // them apart, which is why the responder asks clientWentAway() before answering.
    expect(bodyError).toMatchObject({ code: 'ECONNRESET', message: 'aborted' });
    expect(clientWentAway(seen as IncomingMessage)).toBe(true);
  });

  it('is true as soon as the client half-closed: Node ends its side, so no answer could be written', async () => {
    let seen: IncomingMessage | undefined;
    const port = await server((req) => {
      seen = req;
    });
    const socket = client(port, 'GET /half HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => seen !== undefined);
    socket.end();
    await waitFor(() => seen?.socket.writable === false);
    expect(clientWentAway(seen as IncomingMessage)).toBe(true);
  });
});
