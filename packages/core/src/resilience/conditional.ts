import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/**
 * Conditional GET and HEAD against a kept copy (RFC 9111 §4.3.2): a browser reloading a page it has sends the
 * copy's validators back, and when they still match, a 304 lets it keep its own copy instead of fetching ours again.
 * Only If-None-Match and If-Modified-Since are evaluated: the preconditions a cache may answer. If-Match and
 * If-Unmodified-Since guard changes at the origin (RFC 9110 §13.1.1, §13.1.4) and are left alone: the copy is
 * served whole, as without them.
 */

/** An entity-tag of an If-None-Match list and its comma: `W/` and the opaque tag in quotes (RFC 9110 §8.8.3). */
const listedTag = /[ \t]*(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*")[ \t]*(?:,|$)/y;

/**
 * The opaque tags of an If-None-Match value, `'*'` for any, or `undefined` when it does not parse (and is then
 * ignored: a field a recipient cannot parse is not a precondition that holds). One pass, whatever its length.
 */
function tagsOf(value: string): '*' | string[] | undefined {
  if (value.trim() === '*') return '*';
  const tags: string[] = [];
  listedTag.lastIndex = 0;
  while (listedTag.lastIndex < value.length) {
    const match = listedTag.exec(value);
    if (match === null) return undefined;
    tags.push(match[1] as string);
  }
  return tags.length === 0 ? undefined : tags;
}

/** The opaque tag of a response's ETag, without `W/`. */
function opaqueTag(etag: string): string | undefined {
  return /^\s*(?:W\/)?("[\x21\x23-\x7e\x80-\xff]*")\s*$/.exec(etag)?.[1];
}

/** A header of a copy, as one string when it is one. */
function single(headers: OutgoingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Whether a request with `request` headers, answered with a copy of a 200 with `copy` headers, gets a 304 (RFC 9110
 * §13.2.2: If-None-Match first, and If-Modified-Since only without it). If-None-Match uses the weak comparison (§8.8.3.2);
 * a date that does not parse is ignored (§13.1.3).
 */
export function notModified(request: IncomingHttpHeaders, copy: OutgoingHttpHeaders): boolean {
  const ifNoneMatch = request['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const tags = tagsOf(ifNoneMatch);
    if (tags === '*') return true;
    const etag = single(copy, 'etag');
    const tag = etag === undefined ? undefined : opaqueTag(etag);
    return tags !== undefined && tag !== undefined && tags.includes(tag);
  }
  const since = Date.parse(request['if-modified-since'] ?? '');
  const lastModified = Date.parse(single(copy, 'last-modified') ?? '');
  return !Number.isNaN(since) && !Number.isNaN(lastModified) && lastModified <= since;
}

/**
 * The headers of a 304 in place of a copy's 200: RFC 9110 §15.4.5 keeps what guides the client's cache (ETag,
 * Cache-Control, Expires, Vary, Date, Content-Location, Last-Modified) and drops the representation's metadata
 * (Content-Type, Content-Length, Content-Encoding, Content-Language), which describe a body the 304 does not have.
 */
export function notModifiedHeaders(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const kept: OutgoingHttpHeaders = {};
  for (const name in headers) if (!representationMetadata.has(name)) kept[name] = headers[name];
  return kept;
}

/** Fields that describe a body (RFC 9110 §8), not the resource: Content-Security-Policy and the like stay. */
const representationMetadata = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
]);
