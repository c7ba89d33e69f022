import type { IncomingMessage } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { checkOptions, wholeNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { originalUrlOf } from '../node-http/original-url.js';
import type { GatewayStore } from '../store/store.js';
import { framed } from './cache-rules.js';
import { Copies, type CopySource, collectBody, type StandIn } from './copies.js';

/**
 * robots.txt never answers 5xx. Google reads a 5xx or 429 robots.txt as "the whole site is disallowed" and stops
 * crawling it until robots.txt answers again; after a long outage it may drop the site from its results
 * (https://developers.google.com/search/docs/crawling-indexing/robots/robots_txt#http-status-codes, and RFC 9309
 * §2.3.1.4 "Unreachable" status: "the crawler MUST assume complete disallow"). So when the upstream fails for
 * /robots.txt, the gateway answers 200 with the last good copy the upstream served for that Host, or with `fallback`.
 * Copies are kept by the mechanism of stale-if-error (copies.ts), with robots.txt's own rules.
 */
export interface RobotsOptions {
  /**
   * The robots.txt served when the upstream fails and no good copy was seen for the host. The default allows
   * everything, which is what Google assumes for a missing robots.txt (4xx) and what keeps crawlers crawling; the
   * pages themselves still answer their real 503 with Retry-After. Put your real rules here if they disallow paths.
   * @default 'User-agent: *\nAllow: /\n'
   */
  fallback?: string;
  /**
   * Cache-Control of a substitute answer: short, so crawlers and CDNs fetch the real file again soon.
   * @default 'max-age=300'
   */
  cacheControl?: string;
  /**
   * The largest robots.txt kept, in bytes (as sent and decoded); bigger ones are passed through but not kept. Google
   * reads the first 500 KiB.
   * @default 512000
   */
  maxBodyBytes?: number;
  /**
   * Bytes of robots.txt copies kept in this process, every Host together (one copy per Host the upstream was asked
   * with). Past it, the copy least recently kept or served goes first; a newcomer always has a place, so Hosts that
   * came first cannot keep the real site's copy out, and made-up Hosts can push it out only by making the upstream
   * serve this many bytes of robots.txt between two visits of a crawler. With a `store`, copies are kept there too.
   * @default 4194304 (4 MiB)
   */
  maxTotalBytes?: number;
}

/** Validated robots.txt settings. */
export type ResolvedRobotsOptions = Readonly<Required<RobotsOptions>>;

/** The documented defaults. */
const defaultRobotsOptions: ResolvedRobotsOptions = Object.freeze({
  fallback: 'User-agent: *\nAllow: /\n',
  cacheControl: 'max-age=300',
  maxBodyBytes: 512000,
  maxTotalBytes: 4 * 1024 * 1024,
});

/** Validates robots.txt options once, fills the defaults and freezes the result. */
export function resolveRobotsOptions(options: RobotsOptions = {}): ResolvedRobotsOptions {
  checkOptions(options, Object.keys(defaultRobotsOptions), 'gatewayProxy() robots');
  const d = defaultRobotsOptions;
  const fallback = options.fallback ?? d.fallback;
  if (typeof fallback !== 'string') {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'robots.fallback must be the text of a robots.txt, such as "User-agent: *\\nAllow: /\\n".',
    );
  }
  const cacheControl = options.cacheControl ?? d.cacheControl;
  if (typeof cacheControl !== 'string' || !/^[\x20-\x7e]+$/.test(cacheControl)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'robots.cacheControl must be a Cache-Control value, such as "max-age=300".',
    );
  }
  const maxBodyBytes = wholeNumber(options.maxBodyBytes ?? d.maxBodyBytes, 'robots.maxBodyBytes', 1, 16 * 1024 * 1024);
  const maxTotalBytes = wholeNumber(options.maxTotalBytes ?? d.maxTotalBytes, 'robots.maxTotalBytes', 1, 2 ** 40);
  if (maxTotalBytes < maxBodyBytes) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `robots.maxTotalBytes (${maxTotalBytes}) must be at least robots.maxBodyBytes (${maxBodyBytes}): no copy would fit.`,
    );
  }
  return Object.freeze({ fallback, cacheControl, maxBodyBytes, maxTotalBytes });
}

/** Where a robots.txt keeper keeps copies, and its clock. */
export interface RobotsContext {
  /** A shared store, where copies are kept too (see `ProxyOptions.store`). */
  readonly store?: GatewayStore | undefined;
  /** Wall-clock milliseconds, for tests. */
  readonly now?: (() => number) | undefined;
}

/** Remembers good robots.txt answers and stands in for failed ones. */
export interface RobotsKeeper {
  /** Whether `req` is a GET or HEAD of /robots.txt (the query ignored): the only requests observed and answered. */
  matches(req: IncomingMessage): boolean;
  /** Whether an upstream's own answer with `status` must be replaced: 5xx and 429, which crawlers read as "disallow all". */
  replaces(status: number): boolean;
  /**
   * Watches the upstream's response to `req` and keeps its body for `source` when it is a complete 200 text/plain
   * answer to a robots.txt GET. It only listens: call it once the response is being relayed to the client.
   */
  observe(req: IncomingMessage, upstreamResponse: IncomingMessage, source: CopySource): void;
  /**
   * What answers `req` for `source` when the upstream failed: 200 with the last good copy for that Host, or with the
   * fallback. Reads a shared store for at most a few milliseconds.
   */
  standIn(req: IncomingMessage, source: CopySource): Promise<StandIn>;
}

/**
 * How long a copy is kept when nothing refreshes it: a month. RFC 9309 §2.4 lets a crawler keep using its cached
 * robots.txt while the file is unreachable; an outage longer than this gets the fallback.
 */
const keptFor = 30 * 24 * 60 * 60 * 1000;

const decoders: Readonly<Record<string, (body: Buffer, maxOutputLength: number) => Buffer>> = {
  identity: (body) => body,
  gzip: (body, maxOutputLength) => gunzipSync(body, { maxOutputLength }),
  'x-gzip': (body, maxOutputLength) => gunzipSync(body, { maxOutputLength }),
  br: (body, maxOutputLength) => brotliDecompressSync(body, { maxOutputLength }),
  // RFC 9110 §8.4.1.2 says zlib format; some servers send raw deflate, so both are tried.
  deflate: (body, maxOutputLength) => {
    try {
      return inflateSync(body, { maxOutputLength });
    } catch {
      return inflateRawSync(body, { maxOutputLength });
    }
  },
};

/** Whether the path the client asked for (the query ignored) is /robots.txt. Asked of every GET: no allocation. */
function asksForRobots(req: IncomingMessage): boolean {
  // Crawlers ask the site's root: the full path, whatever a mount path stripped from req.url.
  const url = originalUrlOf(req);
  return url.startsWith('/robots.txt') && (url.length === 11 || url.charCodeAt(11) === 63); // 63: '?'
}

/** What a copy is kept under: what the upstream served it for (its targets, and the Host it was asked with). */
function robotsKey(source: CopySource): string {
  return `robots.txt\n${source.upstream}\n${source.host}`;
}

/** The headers an earlier handler may have set that a copy stored decoded would contradict. */
const contradicted = ['content-encoding', 'etag', 'last-modified', 'content-range'];

class Keeper implements RobotsKeeper {
  readonly #options: ResolvedRobotsOptions;
  readonly #copies: Copies;
  readonly #fallback: StandIn;

  constructor(options: ResolvedRobotsOptions, context: RobotsContext) {
    this.#options = options;
    this.#copies = new Copies({ maxBytes: options.maxTotalBytes, store: context.store, now: context.now });
    this.#fallback = this.#standIn(false, 'text/plain; charset=utf-8', Buffer.from(options.fallback));
  }

  matches(req: IncomingMessage): boolean {
    return (req.method === 'GET' || req.method === 'HEAD') && asksForRobots(req);
  }

  replaces(status: number): boolean {
    return status >= 500 || status === 429;
  }

  observe(req: IncomingMessage, upstreamResponse: IncomingMessage, source: CopySource): void {
    if (req.method !== 'GET' || !this.matches(req) || upstreamResponse.statusCode !== 200) return;
    if (source.host.length > 300 || !framed(upstreamResponse)) return;
    const headers = upstreamResponse.headers;
    const contentType = headers['content-type'] ?? 'text/plain';
    // A 200 HTML page at /robots.txt is most likely a soft error or a login page: never kept.
    if (!/^text\/plain\s*(;|$)/i.test(contentType)) return;
    const decode = decoders[(headers['content-encoding'] ?? 'identity').trim().toLowerCase()];
    if (decode === undefined) return;
    const key = robotsKey(source);
    if (this.#copies.keptRecently(key)) return;
    const { maxBodyBytes } = this.#options;
    collectBody(upstreamResponse, maxBodyBytes, (chunks, size) => {
      let body: Buffer;
      try {
        body = decode(Buffer.concat(chunks, size), maxBodyBytes);
      } catch {
        return; // corrupt or too large once decoded: keep the previous copy
      }
      const parts = { status: 200, headers: { 'content-type': contentType }, age: 0, fresh: 0, window: keptFor };
      this.#copies.keep(key, parts, [body]);
    });
  }

  async standIn(_req: IncomingMessage, source: CopySource): Promise<StandIn> {
    const copy = await this.#copies.find(robotsKey(source));
    if (copy === undefined) return this.#fallback;
    return this.#standIn(true, String(copy.headers['content-type'] ?? 'text/plain'), copy.body);
  }

  #standIn(copy: boolean, contentType: string, body: Buffer): StandIn {
    const cacheControl = this.#options.cacheControl;
    return {
      copy,
      write(req, res) {
        if (res.headersSent) return false;
        // The copy is stored decoded; an encoding or validator a previous handler set would now be wrong.
        for (const name of contradicted) res.removeHeader(name);
        res.writeHead(200, {
          'content-type': contentType,
          'content-length': String(body.length),
          'cache-control': cacheControl,
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        return true;
      },
    };
  }
}

/**
 * Creates a robots.txt keeper for a proxy. `context` gives a shared store, and a clock for tests.
 * @example
 * const robots = createRobotsKeeper();
 * const source = copySource(req, 'http://10.0.0.7:4000', false); // the targets, and the Host sent upstream
 * // in the proxy's response handler, once the response is being relayed:
 * robots.observe(req, response, source);
 * // when the attempt failed before a response head, or the upstream answered 5xx/429 to /robots.txt:
 * if (robots.matches(req)) (await robots.standIn(req, source)).write(req, res); // 200, last good copy or fallback
 */
export function createRobotsKeeper(options?: RobotsOptions, context: RobotsContext = {}): RobotsKeeper {
  return new Keeper(resolveRobotsOptions(options), context);
}
