import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { checkOptions, wholeNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import type { GatewayFailure } from '../failure/failure.js';
import { appendProxyStatus, isToken, serializeProxyName } from '../failure/proxy-status.js';
import type { GatewayStore } from '../store/store.js';
import { initialAge, type KeepRules, keepable, varyFields } from './cache-rules.js';
import { notModified, notModifiedHeaders } from './conditional.js';
import { ageOf, Copies, type Copy, type CopySource, collectBody, type StandIn } from './copies.js';

/**
 * stale-if-error (RFC 5861 §4): a GET or HEAD that would fail is answered with the last good copy of its answer, when
 * one was kept and may still be served. Visitors keep reading, crawlers keep seeing the page (no 5xx to slow crawling
 * down), and the error page is left for what was never seen. What may be kept and for how long is cache-rules.ts;
 * where copies are kept is copies.ts.
 */
export interface StaleIfErrorOptions {
  /**
   * The oldest copy that answers a failure, in seconds of age (the `Age` it is served with, RFC 9111 §5.1), when the
   * response has no `stale-if-error` of its own. A response's `stale-if-error=N` wins: it may answer until its
   * freshness lifetime plus N.
   * @default 86400 (a day)
   */
  maxAge?: number;
  /**
   * Bytes of copies kept in this process's memory, every URL together: past it, the copy least recently kept or
   * served goes first. With a `store`, copies are kept there too, under the store's own bound.
   * @default 67108864 (64 MiB)
   */
  maxTotalBytes?: number;
  /**
   * The largest body kept, in bytes; a larger answer passes through but is not kept. A response that may be kept
   * holds its body until it ends, so this also bounds what one response in flight holds.
   * @default 1048576 (1 MiB)
   */
  maxBodyBytes?: number;
  /**
   * The statuses kept, each answered with its own status: 200, and any of 203, 204, 300, 301, 308, 404 and 410
   * (those RFC 9110 §15.1 lets a cache keep without explicit freshness).
   * @default [200]
   */
  statuses?: readonly number[];
  /**
   * This cache's name in Cache-Status (RFC 9211 §2).
   * @default 'gateway-errors' (the default `proxyName` of `gatewayErrors()`, Proxy-Status' name)
   */
  cacheName?: string;
}

/** Validated stale-if-error settings (`maxAge` in seconds). */
export interface ResolvedStaleIfErrorOptions {
  readonly maxAge: number;
  readonly maxTotalBytes: number;
  readonly maxBodyBytes: number;
  readonly statuses: ReadonlySet<number>;
  readonly cacheName: string;
}

/** The statuses a copy may have. */
const keepableStatuses = [200, 203, 204, 300, 301, 308, 404, 410];

const defaults = Object.freeze({
  maxAge: 86400,
  maxTotalBytes: 64 * 1024 * 1024,
  maxBodyBytes: 1024 * 1024,
  statuses: [200],
  cacheName: 'gateway-errors',
});

/**
 * Validates `staleIfError` once: `false` (or none) when it is off, else the settings with the defaults filled in,
 * frozen.
 */
export function resolveStaleIfError(
  value: boolean | StaleIfErrorOptions | undefined,
): ResolvedStaleIfErrorOptions | false {
  if (value === undefined || value === false) return false;
  if (value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'staleIfError must be true, false, or an options object such as { maxAge: 3600 }.',
    );
  }
  const options: StaleIfErrorOptions = value === true ? {} : value;
  checkOptions(options, Object.keys(defaults), 'gatewayProxy() staleIfError');
  const maxAge = wholeNumber(options.maxAge ?? defaults.maxAge, 'staleIfError.maxAge', 1, 2 ** 31);
  const maxBodyBytes = wholeNumber(
    options.maxBodyBytes ?? defaults.maxBodyBytes,
    'staleIfError.maxBodyBytes',
    1,
    2 ** 30,
  );
  const maxTotalBytes = wholeNumber(
    options.maxTotalBytes ?? defaults.maxTotalBytes,
    'staleIfError.maxTotalBytes',
    1,
    2 ** 40,
  );
  if (maxTotalBytes < maxBodyBytes) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `staleIfError.maxTotalBytes (${maxTotalBytes}) must be at least staleIfError.maxBodyBytes (${maxBodyBytes}): no copy would fit.`,
    );
  }
  const statuses = options.statuses ?? defaults.statuses;
  if (!Array.isArray(statuses) || statuses.length === 0 || !statuses.every((s) => keepableStatuses.includes(s))) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `staleIfError.statuses must be a list of statuses from ${keepableStatuses.join(', ')}, such as [200, 404].`,
    );
  }
  const cacheName = options.cacheName ?? defaults.cacheName;
  if (typeof cacheName !== 'string' || cacheName === '') {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      "staleIfError.cacheName must be a non-empty string, such as 'edge-1'.",
    );
  }
  return Object.freeze({ maxAge, maxTotalBytes, maxBodyBytes, statuses: new Set(statuses), cacheName });
}

/** Where a stale-if-error keeper keeps copies, and its clock. */
export interface StaleContext {
  /** A shared store, where copies are kept too (see `ProxyOptions.store`). */
  readonly store?: GatewayStore | undefined;
  /** Wall-clock milliseconds, for tests. */
  readonly now?: (() => number) | undefined;
}

/** Keeps copies of good answers to GET requests and stands in for failed GET and HEAD requests with them. */
export interface StaleKeeper {
  /** Whether copies may answer `req`: a GET or a HEAD (from a GET's copy). */
  matches(req: IncomingMessage): boolean;
  /**
   * Watches the upstream's response to `req` (sent to the client with `headers`) and keeps a copy of it for `source`
   * when the rules allow it (see `keepable`) and its body ends complete. It only listens: call it once the response
   * is being relayed.
   */
  observe(
    req: IncomingMessage,
    upstreamResponse: IncomingMessage,
    headers: OutgoingHttpHeaders,
    source: CopySource,
  ): void;
  /**
   * The copy that answers `req` for `source` in place of `failure`, if one may: the failure is one that would give a
   * 500, 502, 503 or 504 (RFC 5861 §4), and a copy is kept whose age is within its window. Reads a shared store for at
   * most a few milliseconds.
   */
  standIn(req: IncomingMessage, failure: GatewayFailure, source: CopySource): Promise<StandIn | undefined>;
}

/** RFC 5861 §4: an error is what would give a 500, 502, 503 or 504: our own, or the upstream's (intercepted). */
const errorStatuses = new Set([500, 502, 503, 504]);

/** Fields of a copy's headers that are the gateway's to write when it is served. */
const recomputed = new Set(['age', 'content-length', 'transfer-encoding']);

/**
 * What tells answers to GET apart: the targets, the Host and the scheme they were asked with, and the
 * request-target as forwarded (the query included).
 */
function keyOf(req: IncomingMessage, source: CopySource): string {
  return `GET\n${source.upstream}\n${source.host}\n${req.headers['x-forwarded-proto']}\n${req.url}`;
}

/** The key of the variant `headers` select among answers that vary by `fields` (RFC 9111 §4.1). */
function variantKey(key: string, fields: readonly string[], headers: IncomingHttpHeaders): string {
  let variant = key;
  for (const field of fields) {
    const value = headers[field];
    // An absent field and an empty one are different requests.
    variant += value === undefined ? `\n${field}` : `\n${field}: ${String(value).trim()}`;
  }
  return variant;
}

class Keeper implements StaleKeeper {
  readonly #options: ResolvedStaleIfErrorOptions;
  readonly #rules: KeepRules;
  readonly #copies: Copies;
  readonly #now: () => number;

  constructor(options: ResolvedStaleIfErrorOptions, context: StaleContext) {
    this.#options = options;
    this.#rules = { statuses: options.statuses, maxAge: options.maxAge };
    this.#now = context.now ?? Date.now;
    this.#copies = new Copies({ maxBytes: options.maxTotalBytes, store: context.store, now: this.#now });
  }

  matches(req: IncomingMessage): boolean {
    return req.method === 'GET' || req.method === 'HEAD';
  }

  observe(req: IncomingMessage, response: IncomingMessage, headers: OutgoingHttpHeaders, source: CopySource): void {
    const verdict = keepable(req, response, this.#rules);
    if (!verdict.kept) return;
    const fields = varyFields(response.headers.vary) ?? [];
    const key = keyOf(req, source);
    const variant = fields.length === 0 ? key : variantKey(key, fields, req.headers);
    if (this.#copies.keptRecently(variant)) return;
    const now = this.#now();
    const age = initialAge(response.headers, now);
    if (age >= verdict.window) return;
    const status = response.statusCode as number;
    collectBody(response, this.#options.maxBodyBytes, (chunks) => {
      const kept: OutgoingHttpHeaders = {};
      for (const name in headers) if (!recomputed.has(name)) kept[name] = headers[name];
      // Its age when kept: the body took time too.
      const keptAge = age * 1000 + Math.max(0, this.#now() - now);
      const parts = { status, headers: kept, age: keptAge, fresh: verdict.fresh * 1000, window: verdict.window * 1000 };
      this.#copies.keep(variant, parts, chunks, fields.length === 0 ? undefined : { key, fields });
    });
  }

  async standIn(req: IncomingMessage, failure: GatewayFailure, source: CopySource): Promise<StandIn | undefined> {
    if (!this.matches(req) || !errorStatuses.has(failure.receivedStatus ?? failure.status)) return undefined;
    const key = keyOf(req, source);
    const copy = await this.#copies.find(key, (fields) => variantKey(key, fields, req.headers));
    if (copy === undefined || !this.#options.statuses.has(copy.status)) return undefined;
    const age = ageOf(copy, this.#now());
    if (age > copy.window) return undefined;
    return this.#standIn(copy, age, failure);
  }

  #standIn(copy: Copy, age: number, failure: GatewayFailure): StandIn {
    const seconds = Math.floor(age / 1000);
    // RFC 9211 §2: a hit, with the freshness lifetime left (negative: how far past it the copy is), and why.
    let member = `${serializeProxyName(this.#options.cacheName)}; hit; ttl=${Math.floor(copy.fresh / 1000) - seconds}`;
    if (failure.type !== undefined && isToken(failure.type)) member += `; detail=${failure.type}`;
    const headers: OutgoingHttpHeaders = {
      ...copy.headers,
      // RFC 9111 §5.1: the copy's current age.
      age: String(seconds),
      'cache-status': appendProxyStatus(copy.headers['cache-status'], member),
    };
    if (copy.status !== 204) headers['content-length'] = String(copy.body.length);
    return {
      copy: true,
      write(req, res) {
        if (res.headersSent) return false;
        if (copy.status === 200 && notModified(req.headers, copy.headers)) {
          res.writeHead(304, notModifiedHeaders(headers));
          res.end();
          return true;
        }
        res.writeHead(copy.status, headers);
        res.end(req.method === 'HEAD' || copy.status === 204 ? undefined : copy.body);
        return true;
      },
    };
  }
}

/**
 * Creates a stale-if-error keeper for a proxy. `context` gives a shared store, and a clock for tests.
 * @example
 * const stale = createStaleKeeper(resolveStaleIfError(true) as ResolvedStaleIfErrorOptions);
 * // once the upstream's response to a GET is being relayed:
 * stale.observe(req, response, sentHeaders, source);
 * // when the request failed before a response head:
 * const copy = await stale.standIn(req, failure, source);
 * if (copy?.write(req, res)) return; // 200, Age, Cache-Status: gateway-errors; hit; ttl=-412
 */
export function createStaleKeeper(options: ResolvedStaleIfErrorOptions, context: StaleContext = {}): StaleKeeper {
  return new Keeper(options, context);
}
