import type { IncomingHttpHeaders } from 'node:http';
import { parseHttpDate } from '../failure/retry-after.js';

/**
 * What a shared cache may keep of a response, and for how long a kept copy may stand in for a failure: RFC 9111
 * (HTTP Caching), read as a shared cache since many users sit behind a gateway, and RFC 5861 §4 (stale-if-error).
 * Pure functions of a request and a response head; stale.ts applies them.
 */

/** Cache-Control directives: lower-case names, each with its value (quotes removed) or `true` when it has none. */
export type CacheDirectives = ReadonlyMap<string, string | true>;

const noDirectives: CacheDirectives = new Map();

/**
 * Parses Cache-Control (RFC 9111 §5.2): comma-separated directives, `name` or `name=token` or `name="quoted"`.
 * The first occurrence of a directive wins (RFC 9111 §4.2.1); what is not a directive is skipped.
 */
export function parseCacheControl(value: string | readonly string[] | undefined): CacheDirectives {
  if (value === undefined || value.length === 0) return noDirectives;
  const text = typeof value === 'string' ? value : value.join(',');
  const directives = new Map<string, string | true>();
  const directive = /\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?\s*(?:,|$)/y;
  let at = 0;
  while (at < text.length) {
    directive.lastIndex = at;
    const match = directive.exec(text);
    if (match === null) {
      // Not a directive: skip to the next comma outside quotes.
      const next = text.indexOf(',', at);
      if (next === -1) break;
      at = next + 1;
      continue;
    }
    at = directive.lastIndex;
    const name = (match[1] as string).toLowerCase();
    const quoted = match[2]?.replace(/\\(.)/g, '$1');
    if (!directives.has(name)) directives.set(name, quoted ?? match[3] ?? true);
  }
  return directives;
}

/**
 * A delta-seconds value (RFC 9111 §1.2.2) as seconds: `undefined` when it is not one, and at most 2^31 (a larger
 * value means that much).
 */
export function deltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value)) return undefined;
  return Math.min(Number(value), 2 ** 31);
}

/** Why a response is not kept. */
export type NotKept =
  /** Only GET answers are kept (HEAD is answered from a GET's copy). */
  | 'method'
  /** Not one of the statuses kept. */
  | 'status'
  /** `no-store`, in the request or the response (RFC 9111 §5.2.1.5, §5.2.2.5). */
  | 'no-store'
  /** `private`: for one user only (RFC 9111 §5.2.2.7); a shared cache never keeps it. */
  | 'private'
  /** `no-cache`: never reused without asking the origin (RFC 9111 §5.2.2.4), which is what failed. */
  | 'no-cache'
  /** It sets a cookie: someone's session, never anyone else's. */
  | 'set-cookie'
  /** `Vary: *`: no request can be matched to it (RFC 9111 §4.1). */
  | 'vary'
  /** The request carried Authorization, and the response does not say a shared cache may keep it (RFC 9111 §3.5). */
  | 'authorization'
  /** The request carried a Cookie, and the response does not say explicitly that it may be kept. */
  | 'cookie'
  /** Its body ends only with the connection's close: a cut one looks the same. */
  | 'unframed'
  /** It must be revalidated once stale (`must-revalidate`, `proxy-revalidate`, `s-maxage`) and is stale already. */
  | 'revalidate';

/** Whether a response may be kept, and if so its freshness lifetime and how long it may stand in for a failure. */
export type Keepable =
  | {
      readonly kept: true;
      /** Its freshness lifetime, in seconds (RFC 9111 §4.2.1); 0 when it gives none (no heuristic is applied). */
      readonly fresh: number;
      /** The largest age, in seconds, at which it may still answer a failure. */
      readonly window: number;
    }
  | { readonly kept: false; readonly reason: NotKept };

/** How a gateway keeps copies: which statuses, and how long a copy may stand in when the response does not say. */
export interface KeepRules {
  readonly statuses: ReadonlySet<number>;
  /** Seconds of age past which a copy no longer answers a failure, unless the response's own stale-if-error says. */
  readonly maxAge: number;
}

const notKept = (reason: NotKept): Keepable => ({ kept: false, reason });

/** A request as these rules read it (an IncomingMessage is one). */
export interface RequestHead {
  readonly method?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** A response head as these rules read it (an IncomingMessage is one). */
export interface ResponseHead {
  readonly statusCode?: number | undefined;
  readonly headers: IncomingHttpHeaders;
}

/**
 * Whether the end of a response's body proves it complete: a Content-Length or chunked framing, or no body at all
 * (204, 304). A body that only the connection's close ends (HTTP/1.0 style) cannot be told from one cut short.
 */
export function framed(response: ResponseHead): boolean {
  const { headers, statusCode } = response;
  return (
    statusCode === 204 ||
    statusCode === 304 ||
    headers['content-length'] !== undefined ||
    /(?:^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'] ?? '')
  );
}

/**
 * Whether the answer to a request may be kept to stand in for a later failure, and for how long. A shared cache's
 * rules (RFC 9111 §3), and stricter ones where a page could be someone's own:
 *
 * - GET only, a status of `rules.statuses`, a body whose end proves it complete (Content-Length or chunked);
 * - never `no-store` (request or response), `private`, `no-cache`, a `Set-Cookie`, or `Vary: *`;
 * - a request with Authorization only when the response says `public`, `s-maxage` or `must-revalidate` (RFC 9111
 *   §3.5); a request with a Cookie only when the response says explicitly that it may be kept (`public`, `max-age`,
 *   `s-maxage` or `Expires`): a page made for a signed-in visitor, with no caching headers at all, is theirs.
 *
 * How long it may stand in (its `window`, an age): the response's own `stale-if-error=N` wins, counted from when it
 * became stale (RFC 5861 §4: its freshness lifetime plus N), whatever else it says. Otherwise `must-revalidate`,
 * `proxy-revalidate` and `s-maxage` (which implies proxy-revalidate for a shared cache, RFC 9111 §5.2.2.10) forbid a
 * stale copy (RFC 9111 §4.2.4): such a copy stands in only while fresh. Otherwise `rules.maxAge`: the out-of-band
 * contract RFC 9111 §4.2.4 allows, the gateway's operator being the origin's.
 */
export function keepable(req: RequestHead, res: ResponseHead, rules: KeepRules): Keepable {
  const request = req.headers;
  const response = res.headers;
  if (req.method !== 'GET') return notKept('method');
  if (!rules.statuses.has(res.statusCode ?? 0)) return notKept('status');
  const asked = parseCacheControl(request['cache-control']);
  if (asked.has('no-store')) return notKept('no-store');
  const said = parseCacheControl(response['cache-control']);
  if (said.has('no-store')) return notKept('no-store');
  if (said.has('private')) return notKept('private');
  if (said.has('no-cache')) return notKept('no-cache');
  if (response['set-cookie'] !== undefined) return notKept('set-cookie');
  if (varyFields(response.vary) === undefined) return notKept('vary');
  const shared = said.has('public') || said.has('s-maxage');
  if (request.authorization !== undefined && !shared && !said.has('must-revalidate')) return notKept('authorization');
  if (request.cookie !== undefined && !shared && !said.has('max-age') && response.expires === undefined) {
    return notKept('cookie');
  }
  if (!framed(res)) return notKept('unframed');
  const fresh = freshness(said, response);
  const staleIfError = deltaSeconds(said.get('stale-if-error'));
  if (staleIfError !== undefined) return { kept: true, fresh, window: fresh + staleIfError };
  if (said.has('must-revalidate') || said.has('proxy-revalidate') || said.has('s-maxage')) {
    return fresh > 0 ? { kept: true, fresh, window: fresh } : notKept('revalidate');
  }
  return { kept: true, fresh, window: rules.maxAge };
}

/**
 * The freshness lifetime in seconds, as a shared cache reads it (RFC 9111 §4.2.1): `s-maxage`, else `max-age`, else
 * `Expires` minus `Date`; 0 when none is given or one is invalid (§4.2.1: such a response is best taken as stale).
 * No heuristic freshness: a copy answers failures, and how long it may is `window`'s business.
 */
function freshness(said: CacheDirectives, response: IncomingHttpHeaders): number {
  for (const name of ['s-maxage', 'max-age']) {
    if (said.has(name)) return deltaSeconds(said.get(name)) ?? 0;
  }
  if (response.expires === undefined) return 0;
  const expires = parseHttpDate(response.expires);
  const date = response.date === undefined ? undefined : parseHttpDate(response.date);
  if (expires === undefined || date === undefined) return 0;
  return Math.max(0, (expires - date) / 1000);
}

/**
 * The request fields a response varies by (RFC 9111 §4.1), lower-case and sorted: `[]` when none, `undefined` for
 * `Vary: *`, which no request matches.
 */
export function varyFields(vary: string | undefined): readonly string[] | undefined {
  if (vary === undefined) return noFields;
  const fields = new Set<string>();
  for (const part of vary.split(',')) {
    const field = part.trim().toLowerCase();
    if (field === '*') return undefined;
    if (field !== '') fields.add(field);
  }
  return fields.size === 0 ? noFields : [...fields].sort();
}

const noFields: readonly string[] = Object.freeze([]);

/**
 * The age of a response when it arrived, in seconds (RFC 9111 §4.2.3, `corrected_initial_age`): the larger of its
 * `Age` and the time since its `Date`. `now` is when it arrived (wall-clock milliseconds). The response delay is left
 * out: a request the proxy just sent.
 */
export function initialAge(response: IncomingHttpHeaders, now: number): number {
  const age = deltaSeconds(response.age) ?? 0;
  const date = response.date === undefined ? undefined : parseHttpDate(response.date, now);
  const apparent = date === undefined ? 0 : Math.max(0, (now - date) / 1000);
  return Math.max(age, apparent);
}
