import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { checkOptions, wholeNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { originalUrlOf } from '../node-http/original-url.js';
import { type Clock, type ResolvedClock, resolveClock } from './clock.js';

/**
 * robots.txt never answers 5xx. Google reads a 5xx or 429 robots.txt as "the whole site is disallowed" and stops
 * crawling it until robots.txt answers again; after a long outage it may drop the site from its results
 * (https://developers.google.com/search/docs/crawling-indexing/robots/robots_txt#http-status-codes, and RFC 9309
 * §2.3.1.4 "Unreachable" status: "the crawler MUST assume complete disallow"). So when the upstream fails for
 * /robots.txt, the gateway answers 200 with the last good copy the upstream served for that Host, or with `fallback`.
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
   * The largest robots.txt kept, in bytes (decoded); bigger ones are passed through but not kept. Google reads the
   * first 500 KiB.
   * @default 512000
   */
  maxBytes?: number;
  /**
   * Copies kept, one per upstream and Host it was asked with (see {@link RobotsSource}). Memory is at most
   * `maxHosts * maxBytes`. A copy is never pushed out by a newcomer while it is in use: a newcomer only takes the
   * place of one that no good answer refreshed and no failure served for a day, so made-up Hosts cannot evict the
   * real site's copy.
   * @default 20
   */
  maxHosts?: number;
}

/** Validated robots.txt settings. */
export type ResolvedRobotsOptions = Readonly<Required<RobotsOptions>>;

/** The documented defaults. */
const defaultRobotsOptions: ResolvedRobotsOptions = Object.freeze({
  fallback: 'User-agent: *\nAllow: /\n',
  cacheControl: 'max-age=300',
  maxBytes: 512000,
  maxHosts: 20,
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
  return Object.freeze({
    fallback,
    cacheControl,
    maxBytes: wholeNumber(options.maxBytes ?? d.maxBytes, 'robots.maxBytes', 1, 16 * 1024 * 1024),
    maxHosts: wholeNumber(options.maxHosts ?? d.maxHosts, 'robots.maxHosts', 1, 10000),
  });
}

/** A kept robots.txt. */
export interface RobotsCopy {
  /** The decoded body. */
  readonly body: Buffer;
  /** The upstream's Content-Type (text/plain). */
  readonly contentType: string;
}

/**
 * What a robots.txt answer was for: the upstream that served it, and the Host header it was asked with. Virtual hosts
 * serve a robots.txt per Host, so the key is what the upstream actually saw, never the client's Host alone.
 */
export interface RobotsSource {
  /** `protocol//host:port` of the target; `undefined` when none was chosen (then a copy of any target will do). */
  readonly upstream: string | undefined;
  /**
   * The Host sent upstream: the client's, or `''` when the upstream was asked under its own name (`changeOrigin`, or
   * a client that sent none), so that one copy stands for every Host.
   */
  readonly host: string;
}

/** How long a copy that nothing refreshed or served keeps its place against a newcomer: crawlers ask daily. */
const idleCopy = 24 * 60 * 60 * 1000;

/**
 * The key of a copy: what the upstream served it for. Kept in one place, since stale copies of other pages (issue 16)
 * may be kept the same way.
 */
function copyKey(upstream: string, host: string): string {
  return `${upstream} ${host.toLowerCase()}`;
}

/**
 * The source of the answer to `req` through `upstream`: the Host the engine sends is the client's, or the target's
 * own with `changeOrigin` (then `''`: every client Host was asked the same).
 */
export function robotsSource(req: IncomingMessage, upstream: string | undefined, changeOrigin: boolean): RobotsSource {
  return { upstream, host: changeOrigin ? '' : (req.headers.host ?? '') };
}

/** Remembers good robots.txt answers and stands in for failed ones. */
export interface RobotsKeeper {
  /** Whether `req` is a GET or HEAD of /robots.txt (the query ignored): the only requests observed and answered. */
  matches(req: IncomingMessage): boolean;
  /** Whether an upstream's own answer with `status` must be replaced: 5xx and 429, which crawlers read as "disallow all". */
  replaces(status: number): boolean;
  /**
   * Watches the upstream's response to `req` and keeps its body under `source` when it is a complete 200 text/plain
   * answer to a robots.txt GET. It only listens: call it right after `upstreamResponse.pipe(res)`, so it takes
   * nothing from the client.
   */
  observe(req: IncomingMessage, upstreamResponse: IncomingMessage, source: RobotsSource): void;
  /**
   * Answers `req` with 200 and the last good copy for `source` (that upstream's, else the newest of another target
   * for the same Host), or the fallback. Returns `false` (and writes nothing) when the response head was already
   * sent.
   */
  answer(req: IncomingMessage, res: ServerResponse, source: RobotsSource): boolean;
  /** The copy that would stand in for `source`, if any. */
  lastGood(source: RobotsSource): RobotsCopy | undefined;
}

/** A kept copy, with what it was kept for and when it was last refreshed or served. */
interface Kept {
  readonly copy: RobotsCopy;
  readonly host: string;
  usedAt: number;
}

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

class Keeper implements RobotsKeeper {
  readonly #options: ResolvedRobotsOptions;
  readonly #now: () => number;
  /** In order of use: the first is the copy least recently refreshed or served. */
  readonly #copies = new Map<string, Kept>();
  readonly #fallback: RobotsCopy;

  constructor(options: ResolvedRobotsOptions, clock: ResolvedClock) {
    this.#options = options;
    this.#now = clock.now;
    this.#fallback = Object.freeze({ body: Buffer.from(options.fallback), contentType: 'text/plain; charset=utf-8' });
  }

  matches(req: IncomingMessage): boolean {
    return (req.method === 'GET' || req.method === 'HEAD') && asksForRobots(req);
  }

  replaces(status: number): boolean {
    return status >= 500 || status === 429;
  }

  observe(req: IncomingMessage, upstreamResponse: IncomingMessage, source: RobotsSource): void {
    if (req.method !== 'GET' || !this.matches(req) || upstreamResponse.statusCode !== 200) return;
    const { upstream, host } = source;
    if (upstream === undefined || host.length > 300) return;
    const headers = upstreamResponse.headers;
    const contentType = headers['content-type'] ?? 'text/plain';
    // A 200 HTML page at /robots.txt is most likely a soft error or a login page: never kept.
    if (!/^text\/plain\s*(;|$)/i.test(contentType)) return;
    const decode = decoders[(headers['content-encoding'] ?? 'identity').trim().toLowerCase()];
    if (decode === undefined) return;
    const { maxBytes } = this.#options;
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) return;
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        upstreamResponse.off('data', onData);
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    };
    upstreamResponse.on('data', onData);
    upstreamResponse.once('end', () => {
      if (size > maxBytes || !upstreamResponse.complete) return;
      let body: Buffer;
      try {
        body = decode(Buffer.concat(chunks), maxBytes);
      } catch {
        return; // corrupt or too large once decoded: keep the previous copy
      }
      this.#remember(copyKey(upstream, host), host, Object.freeze({ body, contentType }));
    });
  }

  answer(req: IncomingMessage, res: ServerResponse, source: RobotsSource): boolean {
    if (res.headersSent) return false;
    const kept = this.#find(source);
    // Served: in use, so a newcomer cannot take its place while the upstream is down.
    if (kept !== undefined) this.#use(kept[0], kept[1]);
    const copy = kept?.[1].copy ?? this.#fallback;
    // The copy is stored decoded; an encoding or validator a previous handler set would now be wrong.
    for (const name of ['content-encoding', 'etag', 'last-modified', 'content-range']) res.removeHeader(name);
    res.writeHead(200, {
      'content-type': copy.contentType,
      'content-length': String(copy.body.length),
      'cache-control': this.#options.cacheControl,
    });
    res.end(req.method === 'HEAD' ? undefined : copy.body);
    return true;
  }

  lastGood(source: RobotsSource): RobotsCopy | undefined {
    return this.#find(source)?.[1].copy;
  }

  /** The copy of that upstream for that Host; else (another target, or none chosen) the newest for that Host. */
  #find(source: RobotsSource): [string, Kept] | undefined {
    const host = source.host.toLowerCase();
    if (source.upstream !== undefined) {
      const key = copyKey(source.upstream, host);
      const kept = this.#copies.get(key);
      if (kept !== undefined) return [key, kept];
    }
    let newest: [string, Kept] | undefined;
    // Only on a failure, over at most maxHosts copies.
    for (const entry of this.#copies) if (entry[1].host === host) newest = entry;
    return newest;
  }

  /** Marks a copy used now: a Map iterates in insertion order, so the least recently used stays first. */
  #use(key: string, kept: Kept): void {
    kept.usedAt = this.#now();
    this.#copies.delete(key);
    this.#copies.set(key, kept);
  }

  /**
   * Keeps a good answer. A copy already kept is refreshed. A newcomer takes a free place, or the place of the copy
   * least recently used if nothing refreshed or served it for a day; otherwise it is not kept. An upstream that
   * answers any Host gives a made-up Host a good copy too: under plain least-recently-used, a few dozen of them would
   * push out the real site's copy before an outage, and the permissive fallback would replace its Disallow rules.
   */
  #remember(key: string, host: string, copy: RobotsCopy): void {
    const kept: Kept = { copy, host: host.toLowerCase(), usedAt: 0 };
    if (!this.#copies.has(key) && this.#copies.size >= this.#options.maxHosts) {
      const [oldest, last] = this.#copies.entries().next().value as [string, Kept];
      if (this.#now() - last.usedAt < idleCopy) return;
      this.#copies.delete(oldest);
    }
    this.#use(key, kept);
  }
}

/**
 * Creates a robots.txt keeper for a proxy. `clock` is for tests.
 * @example
 * const robots = createRobotsKeeper();
 * const source = { upstream: 'http://10.0.0.7:4000', host: req.headers.host ?? '' }; // the Host sent upstream
 * // in the proxy's response handler, after response.pipe(res):
 * robots.observe(req, response, source);
 * // when the attempt failed before a response head, or the upstream answered 5xx/429 to /robots.txt:
 * if (robots.matches(req)) robots.answer(req, res, source); // 200, last good copy or the fallback
 */
export function createRobotsKeeper(options?: RobotsOptions, clock?: Clock): RobotsKeeper {
  return new Keeper(resolveRobotsOptions(options), resolveClock(clock));
}
