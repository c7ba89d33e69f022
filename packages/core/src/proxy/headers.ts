import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import { defaultRetryAfterPolicy, parseRetryAfter } from '../failure/retry-after.js';

/**
 * RFC 9110 §7.6.1: hop-by-hop fields describe one connection and must not be forwarded, nor any field the
 * Connection header names. `Proxy-Connection` is the pre-standard spelling of Connection. `Proxy-Authenticate` and
 * `Proxy-Authorization` (RFC 9110 §11.7) are addressed to the proxy itself, not to the next hop. `Proxy-Status`
 * is end-to-end (RFC 9209 §2: each intermediary appends to it), so it is not in this list.
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

const noTokens: readonly string[] = Object.freeze([]);

/**
 * The names the Connection header lists, lower-case, other than `keep-alive` and `close` (themselves hop-by-hop,
 * and by far the most common values: those cost no allocation).
 */
function connectionTokens(headers: IncomingHttpHeaders): readonly string[] {
  const value = headers.connection;
  if (value === undefined) return noTokens;
  const lower = value.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close') return noTokens;
  const tokens: string[] = [];
  for (const part of lower.split(',')) {
    const token = part.trim();
    if (token !== '' && token !== 'keep-alive' && token !== 'close') tokens.push(token);
  }
  return tokens;
}

/**
 * Whether the request's Transfer-Encoding, if any, is one we forward: `chunked` alone. Node's parser accepts any
 * list that ends in chunked and takes the chunks off, but not the codings before it: `gzip, chunked` re-framed as
 * plain chunked would send a gzipped body the upstream takes for plain bytes. RFC 9112 §6.1: a server that receives
 * a transfer coding it does not understand should answer 501.
 */
export function supportedTransferCoding(headers: IncomingHttpHeaders): boolean {
  const coding = headers['transfer-encoding'];
  return coding === undefined || coding === 'chunked' || coding.trim().toLowerCase() === 'chunked';
}

/** Options of request header handling. */
export interface ForwardingOptions {
  /** Trust and extend X-Forwarded-* and Forwarded from the client, instead of replacing them. */
  readonly trustForwarded: boolean;
  /** Keep `Upgrade`/`Connection: upgrade` (WebSocket handshakes). */
  readonly upgrade: boolean;
}

/**
 * What a client may claim about itself or earlier hops: its address, the scheme, host, port or path prefix it used,
 * the TLS client certificate it presented, the URL it asked for before a hop rewrote it. Dropped (and
 * X-Forwarded-For/-Proto/-Host set by us) unless `trustForwarded`. Besides RFC 7239's Forwarded and the X-Forwarded-*
 * family, the addresses CDNs and load balancers set, which IP libraries read, some before X-Forwarded-For
 * (request-ip reads X-Client-IP first): a client that sends one of them must not pose as another. A certificate is
 * an identity: RFC 9440 §2.4 has a TLS-terminating proxy remove Client-Cert and Client-Cert-Chain from requests, Envoy
 * drops X-Forwarded-Client-Cert, and Jetty's ForwardedRequestCustomizer believes whoever sends its Proxy-auth-cert,
 * Proxy-ssl-id, X-Proxied-Https or X-Forwarded-Server. X-Original-URL and X-Rewrite-URL (IIS's URL Rewrite) make the
 * frameworks that read them route by them instead of the path forwarded (Symfony and Zend until CVE-2018-14773).
 */
const claims = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-forwarded',
  'forwarded-for',
  'x-real-ip',
  'true-client-ip',
  'x-client-ip',
  'client-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'cf-pseudo-ipv4',
  'fastly-client-ip',
  'x-cluster-client-ip',
  'x-appengine-user-ip',
  'x-original-forwarded-for',
  'x-envoy-external-address',
  'x-azure-clientip',
  'x-azure-socketip',
  'client-cert',
  'client-cert-chain',
  'x-forwarded-client-cert',
  'proxy-auth-cert',
  'proxy-ssl-id',
  'x-proxied-https',
  'x-forwarded-server',
  'x-original-url',
  'x-rewrite-url',
]);

/**
 * Fields a client's Connection header never removes, whoever sent them: the request's Host, its framing (we frame
 * the body we send by them), and what the proxy writes or a trusted edge wrote.
 */
const neverRemoved = new Set(['host', 'content-length', 'transfer-encoding', 'x-request-id', ...claims]);

/**
 * Whether the client itself sent `name`, with the value `req.headers` holds now: in `req.rawHeaders`, and as Node
 * would have joined the client's lines (the first line, all of them with `, `, or cookies with `; `). A header the
 * application's middleware added or changed before the proxy is not the client's.
 */
function sentByClient(req: IncomingMessage, name: string): boolean {
  const value = req.headers[name];
  if (value === undefined) return false;
  const raw = req.rawHeaders;
  const sent: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name) sent.push(raw[i + 1] as string);
  }
  if (sent.length === 0) return false;
  if (Array.isArray(value)) return value.length === sent.length && value.every((one, i) => one === sent[i]);
  return value === sent[0] || value === sent.join(', ') || value === sent.join('; ');
}

/**
 * The fields the client's Connection tokens remove (RFC 9110 §7.6.1): only ones the client sent itself, as the
 * application left them, and never Host, framing or what the proxy writes. The application's own headers are
 * indistinguishable by name from the client's, so what decides is who wrote the value: a client naming `x-user` must
 * not strip the `x-user` an authentication middleware set, and `Connection: host` must not swap the client's Host
 * for the target's.
 */
function removedByClient(req: IncomingMessage, tokens: readonly string[]): readonly string[] {
  if (tokens.length === 0) return noTokens;
  return tokens.filter((token) => !neverRemoved.has(token) && sentByClient(req, token));
}

/** RFC 9110 §5.6.2 token characters: a Forwarded value made only of them needs no quotes (RFC 7239 §4). */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function forwardedValue(value: string): string {
  return token.test(value) ? value : `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * This hop's element of Forwarded (RFC 7239 §4): `for` the address the request came from (an IPv6 one bracketed,
 * hence quoted, §6; `unknown` when the socket has none, §6.2), `host` the Host it came with (§5.3), `proto` the
 * scheme it came over (§5.4).
 */
export function forwardedElement(address: string, host: string, proto: string): string {
  const node = address === '' ? 'unknown' : address.includes(':') ? `[${address}]` : address;
  const element = `for=${forwardedValue(node)}`;
  return `${host === '' ? element : `${element};host=${forwardedValue(host)}`};proto=${proto}`;
}

/**
 * Prepares the incoming request's headers for the upstream (the engine reads `req.headers`, which is replaced by a
 * new object; the client's own stays as it was for anyone holding it): drops hop-by-hop fields and the fields the
 * client's Connection names (see `removedByClient`), drops what a client claims about its address unless trusted,
 * sets X-Forwarded-For/-Proto/-Host (appending to trusted values, and to a trusted Forwarded) and X-Request-Id.
 * Runs once per request, before the first attempt. A new object rather than `delete`s: deleting turns the headers
 * into a slow dictionary that every later read and copy pays for.
 *
 * A body the client sent with Transfer-Encoding (of unknown length) is re-framed as chunked for our hop. Dropping
 * the field without a replacement would send a GET or DELETE body unframed, and the upstream would read the body
 * as the next request on the connection: request smuggling (RFC 9112 §6.1, §11.2).
 */
export function prepareRequestHeaders(req: IncomingMessage, requestId: string, options: ForwardingOptions): void {
  const headers = req.headers;
  const upgrading = options.upgrade && headers.upgrade !== undefined;
  const trusted = options.trustForwarded;
  const removed = removedByClient(req, connectionTokens(headers));
  const prepared: IncomingHttpHeaders = {};
  for (const name in headers) {
    // Node answers `Expect: 100-continue` on our side of the hop; forwarding it would only make the upstream wait.
    if (hopByHop.has(name) || name === 'expect' || name === 'x-request-id' || (!trusted && claims.has(name))) continue;
    if (removed.length > 0 && removed.includes(name)) continue;
    prepared[name] = headers[name];
  }
  if (upgrading) {
    prepared.connection = 'upgrade';
    prepared.upgrade = headers.upgrade;
  }
  if (headers['transfer-encoding'] !== undefined) prepared['transfer-encoding'] = 'chunked';

  const remote = req.socket?.remoteAddress ?? '';
  const proto = req.socket instanceof TLSSocket ? 'https' : 'http';
  const before = trusted ? headers['x-forwarded-for'] : undefined;
  prepared['x-forwarded-for'] = before ? `${before}, ${remote}` : remote;
  prepared['x-forwarded-proto'] = (trusted && headers['x-forwarded-proto']) || proto;
  prepared['x-forwarded-host'] = (trusted && headers['x-forwarded-host']) || (headers.host ?? '');
  // A trusted chain that uses Forwarded gets this hop appended. None is started: the edge that sent X-Forwarded-*
  // alone would appear in it as the client, over our scheme, to upstreams that prefer Forwarded (Spring does).
  if (trusted && headers.forwarded !== undefined) {
    prepared.forwarded = `${headers.forwarded}, ${forwardedElement(remote, headers.host ?? '', proto)}`;
  }
  prepared['x-request-id'] = requestId;
  req.headers = prepared;
}

/**
 * The upstream's response headers as we forward them: without hop-by-hop fields (Node frames the body for the
 * client itself, chunked or by Content-Length), and with Retry-After validated: a valid value (delay-seconds or an
 * HTTP-date, RFC 9110 §10.2.3) is passed on as whole seconds, at most the default policy's `max` (a day: an upstream
 * asking for a week is not believed further), anything else is dropped, never copied blindly.
 */
export function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const forwarded: OutgoingHttpHeaders = {};
  const dropped = connectionTokens(headers);
  for (const name in headers) {
    if (hopByHop.has(name) || (dropped.length > 0 && dropped.includes(name))) continue;
    const value = headers[name];
    if (value !== undefined) forwarded[name] = value;
  }
  if (headers['retry-after'] !== undefined && forwarded['retry-after'] !== undefined) {
    const seconds = parseRetryAfter(headers['retry-after'], headers.date);
    if (seconds === undefined) delete forwarded['retry-after'];
    else forwarded['retry-after'] = String(Math.min(seconds, defaultRetryAfterPolicy.max));
  }
  return forwarded;
}

/**
 * Writes the upstream's status and headers to `res`. Headers set earlier on `res` (CORS, security headers, a
 * session cookie) survive: the upstream's value wins where both set the same field, except Set-Cookie, where both
 * are kept. The upstream's reason phrase is not forwarded (RFC 9112 §4: clients ignore it, and Node would throw on
 * bytes it allows in a parsed phrase but not in a written one).
 */
export function writeResponseHead(res: ServerResponse, status: number, headers: OutgoingHttpHeaders): void {
  const cookies = headers['set-cookie'];
  if (cookies !== undefined) {
    const earlier = res.getHeader('set-cookie');
    if (earlier !== undefined) {
      headers['set-cookie'] = [
        ...(Array.isArray(earlier) ? earlier : [String(earlier)]),
        ...(Array.isArray(cookies) ? cookies : [String(cookies)]),
      ];
    }
  }
  res.writeHead(status, headers);
}
