import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { appendProxyStatus } from '../failure/proxy-status.js';
import type { RenderedError } from './render.js';

/**
 * Headers that describe a body or a resource we are not sending. Whatever earlier middleware set for the page it
 * meant to serve would now lie about the error page: a stale ETag or Last-Modified could get the error revalidated
 * as the page, a Content-Encoding would make the client decode plain bytes, a CDN cache directive would get the
 * error cached, a Link preload would make the page fetch from the failing origin. Security and CORS headers,
 * cookies and the like are kept.
 */
const staleHeaders: ReadonlySet<string> = new Set([
  'etag',
  'last-modified',
  'expires',
  'age',
  'content-encoding',
  'content-range',
  'content-disposition',
  'content-location',
  'content-language',
  'content-md5',
  'digest',
  'repr-digest',
  'content-digest',
  'accept-ranges',
  'location',
  'refresh',
  'link',
  'transfer-encoding',
  'trailer',
  'surrogate-control',
  'cdn-cache-control',
  'cloudflare-cdn-cache-control',
  'x-accel-expires',
]);

/** `Vary` members, merged without duplicates; `*` absorbs everything. */
export function mergeVary(existing: string | number | readonly string[] | undefined, added: string): string {
  // Nearly always nothing was set before: the error path is hot, skip the parsing.
  if (existing === undefined || existing === '') return added;
  const members = new Map<string, string>();
  const values = Array.isArray(existing) ? existing : [String(existing)];
  for (const field of [...values, added].join(',').split(',')) {
    const name = field.trim();
    if (name === '*') return '*';
    if (name !== '' && !members.has(name.toLowerCase())) members.set(name.toLowerCase(), name);
  }
  return [...members.values()].join(', ');
}

/**
 * Ends the client's connection without another byte: used when a failure happens after the response head went out.
 * The client sees a truncated response (a short Content-Length, a chunked body without its last chunk), never a
 * clean end that would make a cut response look complete.
 */
export function abortResponse(res: ServerResponse): void {
  res.destroy();
}

/**
 * Whether `res` can still take an error response. When its head already went out it cannot, and its connection is
 * aborted on the spot (the client must find its response cut, never a page appended to it); when it is over or
 * destroyed, there is nothing left to do. Ask before rendering: no page is rendered for a response that cannot take
 * it.
 */
export function takesError(res: ServerResponse): boolean {
  if (res.headersSent) {
    abortResponse(res);
    return false;
  }
  return !(res.writableEnded || res.destroyed);
}

/**
 * Writes a rendered error to `res`, in place (never a redirect). Headers set earlier stay unless they describe a
 * body we are not sending; `Vary` and `Proxy-Status` are extended, not replaced. HEAD gets every header and no
 * body. If the response head already went out, the connection is aborted instead (see {@link takesError}).
 */
export function writeError(req: IncomingMessage, res: ServerResponse, rendered: RenderedError): void {
  if (!takesError(res)) return;
  // What is set (rarely more than a few headers) is checked against the list, not the list against the response.
  for (const name of res.getHeaderNames()) if (staleHeaders.has(name)) res.removeHeader(name);
  res.statusCode = rendered.status;
  // A reason phrase set for the response that was planned ("OK") would contradict the status. (HTTP/2 has none:
  // its compatibility response reads it as '' and has no setter.)
  if (res.statusMessage && res.statusMessage !== STATUS_CODES[rendered.status]) {
    res.statusMessage = STATUS_CODES[rendered.status] ?? '';
  }
  for (const [name, value] of Object.entries(rendered.headers)) {
    if (name === 'vary') res.setHeader(name, mergeVary(res.getHeader(name), value));
    else if (name === 'proxy-status') res.setHeader(name, appendProxyStatus(res.getHeader(name), value));
    else res.setHeader(name, value);
  }
  res.end(req.method === 'HEAD' ? undefined : rendered.body);
}
