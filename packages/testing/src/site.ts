import { createServer, type IncomingMessage } from 'node:http';
import { listen, type Upstream, type UpstreamState } from './upstream.js';

/** What a page of a {@link siteUpstream} answers. */
export interface SitePage {
  /** @default 200 */
  status?: number;
  /** Response headers. Content-Length is set from the body unless given (or `Transfer-Encoding` is). */
  headers?: Record<string, string | string[]>;
  /** @default `page <path>\n` */
  body?: string | Buffer;
}

/** How every request to a {@link siteUpstream} fails while it is down. */
export type SiteOutage =
  /** Answered as usual. */
  | false
  /** The connection is reset once the request head arrived (502 connection_terminated at a gateway). */
  | 'reset'
  /** A 200 head announcing the page's full length, half of its body, then the connection is destroyed. */
  | 'cut'
  /** That status with `down <status>\n`, as the site's own error (500, 502, 503, 504). */
  | number;

/** A site a test serves pages from, then takes down. */
export interface SiteUpstream extends Upstream {
  /**
   * What each path answers (the request-target as sent, the query included): a page, or a function of the request
   * (to answer by its headers). Any other path answers 200 `text/html` `page <path>\n`.
   */
  readonly pages: Map<string, SitePage | ((req: IncomingMessage) => SitePage)>;
  /** Up (`false`), or how every request fails. Switch it at run time. */
  down: SiteOutage;
  /** Requests per path, while up or down. */
  readonly served: Map<string, number>;
}

/**
 * A site whose pages a test sets (status, headers, body, by path or by request) and takes down at will: reset, cut
 * mid-body, or its own 5xx. For the copies of a gateway (stale-if-error, robots.txt): see a page, take the site down,
 * see what answers.
 */
export async function siteUpstream(): Promise<SiteUpstream> {
  const state: UpstreamState = { requests: 0 };
  const pages = new Map<string, SitePage | ((req: IncomingMessage) => SitePage)>();
  const served = new Map<string, number>();
  let down: SiteOutage = false;
  const server = createServer((req, res) => {
    state.requests++;
    const path = req.url ?? '/';
    served.set(path, (served.get(path) ?? 0) + 1);
    req.resume();
    if (down === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (typeof down === 'number') {
      const text = `down ${down}\n`;
      res.writeHead(down, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) }).end(text);
      return;
    }
    const found = pages.get(path);
    const page = typeof found === 'function' ? found(req) : (found ?? {});
    const body = Buffer.from(page.body ?? `page ${path}\n`);
    const headers: Record<string, string | string[]> = { 'Content-Type': 'text/html; charset=utf-8', ...page.headers };
    const named = Object.keys(headers).map((name) => name.toLowerCase());
    if (!named.includes('content-length') && !named.includes('transfer-encoding')) {
      headers['Content-Length'] = String(body.length);
    }
    res.writeHead(page.status ?? 200, headers);
    if (down === 'cut') {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      return;
    }
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const upstream = await listen(server, state);
  return {
    url: upstream.url,
    port: upstream.port,
    close: () => upstream.close(),
    get requests() {
      return upstream.requests;
    },
    pages,
    served,
    get down() {
      return down;
    },
    set down(value) {
      down = value;
    },
  };
}
