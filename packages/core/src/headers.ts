import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { TLSSocket } from 'node:tls';

/**
 * RFC 9110 §7.6.1: hop-by-hop fields describe one connection and must not be forwarded, nor any field the
 * Connection header names. `Expect` is answered by Node on our side of the hop (it sends 100 Continue itself), so
 * forwarding it would only make the upstream wait. `Proxy-Authorization` is meant for us, not the upstream.
 */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** The names the Connection header lists, lower-case. */
function connectionTokens(headers: IncomingHttpHeaders): string[] {
  const value = headers.connection;
  if (value === undefined) return [];
  return value
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '');
}

/** Options of request header handling. */
export interface ForwardingOptions {
  /** Trust and extend X-Forwarded-* and Forwarded from the client, instead of replacing them. */
  readonly trustForwarded: boolean;
  /** Keep `Upgrade`/`Connection: upgrade` (WebSocket handshakes). */
  readonly upgrade: boolean;
}

/**
 * Prepares the incoming request's headers for the upstream, in place (http-proxy reads `req.headers`): drops
 * hop-by-hop fields, sets X-Forwarded-For/-Proto/-Host (appending to the client's values only when they are trusted)
 * and X-Request-Id. Runs once per request, before the first attempt.
 */
export function prepareRequestHeaders(req: IncomingMessage, requestId: string, options: ForwardingOptions): void {
  const headers = req.headers;
  const upgrading = options.upgrade && headers.upgrade !== undefined;
  for (const token of connectionTokens(headers)) {
    if (!(upgrading && token === 'upgrade')) delete headers[token];
  }
  for (const name of hopByHop) {
    if (!(upgrading && (name === 'upgrade' || name === 'connection'))) delete headers[name];
  }
  if (upgrading) headers.connection = 'upgrade';
  delete headers.expect;

  const remote = req.socket?.remoteAddress ?? '';
  const proto = req.socket instanceof TLSSocket ? 'https' : 'http';
  if (options.trustForwarded) {
    const before = headers['x-forwarded-for'];
    headers['x-forwarded-for'] = before ? `${before}, ${remote}` : remote;
    headers['x-forwarded-proto'] ??= proto;
    headers['x-forwarded-host'] ??= headers.host ?? '';
  } else {
    // A client can write anything into these; a gateway that forwards them lets it pose as any address.
    delete headers.forwarded;
    headers['x-forwarded-for'] = remote;
    headers['x-forwarded-proto'] = proto;
    headers['x-forwarded-host'] = headers.host ?? '';
    delete headers['x-forwarded-port'];
    delete headers['x-real-ip'];
  }
  headers['x-request-id'] = requestId;
}

/**
 * The upstream's response headers as we forward them: without hop-by-hop fields. Node frames the body for the
 * client itself (chunked or by Content-Length).
 */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const forwarded: OutgoingHttpHeaders = {};
  const dropped = connectionTokens(headers);
  for (const name in headers) {
    if (hopByHop.has(name) || (dropped.length > 0 && dropped.includes(name))) continue;
    const value = headers[name];
    if (value !== undefined) forwarded[name] = value;
  }
  return forwarded;
}
