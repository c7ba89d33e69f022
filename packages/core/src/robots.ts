import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { wholeNumber } from './option-values.js';
import { checkOptions } from './options.js';

/**
 * robots.txt never answers 5xx. Google reads a 5xx or 429 robots.txt as "the whole site is disallowed" and stops
 * crawling it until robots.txt answers again; after a long outage it may drop the site from its results
 * (https://developers.google.com/search/docs/crawling-indexing/robots/robots_txt#http-status-codes, and RFC 9309
 * §2.3.1.4 "Unreachable" status: "the crawler MUST assume complete disallow"). So when the upstream fails for
 * /robots.txt, the gateway answers 200 with the last good copy it saw for that host, or with `fallback`.
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
   * Hosts whose last good copy is kept; the least recently used goes first. Memory is at most
   * `maxHosts * maxBytes`.
   * @default 20
   */
  maxHosts?: number;
}

/** Validated robots.txt settings. */
export type ResolvedRobotsOptions = Readonly<Required<RobotsOptions>>;

/** The documented defaults. */
export const defaultRobotsOptions: ResolvedRobotsOptions = Object.freeze({
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
    throw new TypeError(
      'gateway-errors: robots.fallback must be the text of a robots.txt, such as "User-agent: *\\nAllow: /\\n".',
    );
  }
  const cacheControl = options.cacheControl ?? d.cacheControl;
  if (typeof cacheControl !== 'string' || !/^[\x20-\x7e]+$/.test(cacheControl)) {
    throw new TypeError('gateway-errors: robots.cacheControl must be a Cache-Control value, such as "max-age=300".');
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

/** Remembers good robots.txt answers and stands in for failed ones. */
export interface RobotsKeeper {
  /** Whether `req` is a GET or HEAD of /robots.txt (the query ignored): the only requests observed and answered. */
  matches(req: IncomingMessage): boolean;
  /** Whether an upstream's own answer with `status` must be replaced: 5xx and 429, which crawlers read as "disallow all". */
  replaces(status: number): boolean;
  /**
   * Watches the upstream's response to `req` and keeps its body when it is a complete 200 text/plain answer to a
   * robots.txt GET. It only listens: call it right after `upstreamResponse.pipe(res)`, so it takes nothing from
   * the client.
   */
  observe(req: IncomingMessage, upstreamResponse: IncomingMessage): void;
  /**
   * Answers `req` with 200 and the last good copy for its host, or the fallback. Returns `false` (and writes
   * nothing) when the response head was already sent.
   */
  answer(req: IncomingMessage, res: ServerResponse): boolean;
  /** The copy kept for `host`, if any. */
  lastGood(host: string): RobotsCopy | undefined;
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
  // Express strips a mount path from req.url and keeps the full one in originalUrl (the Koa adapter sets it too);
  // crawlers ask the site's root.
  const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  return url.startsWith('/robots.txt') && (url.length === 11 || url.charCodeAt(11) === 63); // 63: '?'
}

function hostOf(req: IncomingMessage): string {
  const host = req.headers.host ?? req.headers[':authority'];
  return typeof host === 'string' ? host.toLowerCase() : '';
}

class Keeper implements RobotsKeeper {
  readonly #options: ResolvedRobotsOptions;
  readonly #copies = new Map<string, RobotsCopy>();
  readonly #fallback: RobotsCopy;

  constructor(options: ResolvedRobotsOptions) {
    this.#options = options;
    this.#fallback = Object.freeze({ body: Buffer.from(options.fallback), contentType: 'text/plain; charset=utf-8' });
  }

  matches(req: IncomingMessage): boolean {
    return (req.method === 'GET' || req.method === 'HEAD') && asksForRobots(req);
  }

  replaces(status: number): boolean {
    return status >= 500 || status === 429;
  }

  observe(req: IncomingMessage, upstreamResponse: IncomingMessage): void {
    if (req.method !== 'GET' || !this.matches(req) || upstreamResponse.statusCode !== 200) return;
    const headers = upstreamResponse.headers;
    const contentType = headers['content-type'] ?? 'text/plain';
    // A 200 HTML page at /robots.txt is most likely a soft error or a login page: never kept.
    if (!/^text\/plain\s*(;|$)/i.test(contentType)) return;
    const decode = decoders[(headers['content-encoding'] ?? 'identity').trim().toLowerCase()];
    if (decode === undefined) return;
    const { maxBytes } = this.#options;
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) return;
    const host = hostOf(req);
    if (host.length > 300) return;
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
      this.#remember(host, Object.freeze({ body, contentType }));
    });
  }

  answer(req: IncomingMessage, res: ServerResponse): boolean {
    if (res.headersSent) return false;
    const copy = this.lastGood(hostOf(req)) ?? this.#fallback;
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

  lastGood(host: string): RobotsCopy | undefined {
    const key = host.toLowerCase();
    const copy = this.#copies.get(key);
    if (copy !== undefined) {
      // Least recently used goes first: a Map iterates in insertion order, so re-insert on use.
      this.#copies.delete(key);
      this.#copies.set(key, copy);
    }
    return copy;
  }

  #remember(host: string, copy: RobotsCopy): void {
    this.#copies.delete(host);
    this.#copies.set(host, copy);
    while (this.#copies.size > this.#options.maxHosts) {
      const oldest = this.#copies.keys().next().value as string;
      this.#copies.delete(oldest);
    }
  }
}

/**
 * Creates a robots.txt keeper for a proxy.
 * @example
 * const robots = createRobotsKeeper();
 * // in the proxy's response handler, after response.pipe(res):
 * robots.observe(req, response);
 * // when the attempt failed before a response head, or the upstream answered 5xx/429 to /robots.txt:
 * if (robots.matches(req)) robots.answer(req, res); // 200, last good copy or the fallback
 */
export function createRobotsKeeper(options?: RobotsOptions): RobotsKeeper {
  return new Keeper(resolveRobotsOptions(options));
}
