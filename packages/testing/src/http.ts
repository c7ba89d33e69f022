import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type Upstream, type UpstreamState } from './upstream.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Starts a well-behaved HTTP/1.1 server whose handler misbehaves only in what it answers. */
export function httpUpstream(handler: Handler): Promise<Upstream> {
  const state: UpstreamState = { requests: 0 };
  const server = createServer((req, res) => {
    state.requests++;
    handler(req, res);
  });
  return listen(server, state);
}

/** Options of {@link echoUpstream}. */
export interface EchoOptions {
  /**
   * Extra response headers.
   * @default {}
   */
  headers?: Record<string, string>;
}

/**
 * Answers every request with 200 and a JSON echo of what it received:
 * `{ method, url, headers, body }`. The healthy upstream of most tests.
 */
export function echoUpstream(options: EchoOptions = {}): Promise<Upstream> {
  return httpUpstream((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        ...options.headers,
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
}

/** Options of {@link statusUpstream}. */
export interface StatusOptions {
  /**
   * The status it answers with.
   * @default 503
   */
  status?: number;
  /**
   * A `Retry-After` value sent as is (delay-seconds or an HTTP-date, or anything else to test validation).
   * @default undefined (no Retry-After)
   */
  retryAfter?: string;
  /**
   * The response body.
   * @default 'upstream says <status>\n'
   */
  body?: string;
  /**
   * Extra response headers.
   * @default {}
   */
  headers?: Record<string, string>;
}

/** Answers every request with a valid response of the given status (503 unless told), optionally with Retry-After. */
export function statusUpstream(options: StatusOptions = {}): Promise<Upstream> {
  const status = options.status ?? 503;
  const body = options.body ?? `upstream says ${status}\n`;
  return httpUpstream((req, res) => {
    req.resume();
    const headers: Record<string, string | number> = {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...options.headers,
    };
    if (options.retryAfter !== undefined) headers['Retry-After'] = options.retryAfter;
    res.writeHead(status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** Options of {@link slowHeadUpstream}. */
export interface SlowHeadOptions {
  /** Milliseconds between the request's arrival and the response head. */
  delay: number;
  /**
   * The status it answers with.
   * @default 200
   */
  status?: number;
  /**
   * The response body.
   * @default 'slow ok\n'
   */
  body?: string;
}

/** Reads the request, waits `delay` ms, then answers normally. */
export function slowHeadUpstream(options: SlowHeadOptions): Promise<Upstream> {
  const body = options.body ?? 'slow ok\n';
  return httpUpstream((req, res) => {
    req.resume();
    const timer = setTimeout(() => {
      res.writeHead(options.status ?? 200, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
      });
      res.end(body);
    }, options.delay);
    res.on('close', () => clearTimeout(timer));
  });
}

/** Options of {@link flakyUpstream}. */
export interface FlakyOptions {
  /**
   * How many requests fail, counted per request path (the URL without its query), before it answers 200.
   * @default 1
   */
  failures?: number;
  /**
   * How a failing request fails: `reset` resets the connection after reading the request (TCP RST, no response);
   * `status` answers with `status`.
   * @default 'reset'
   */
  failWith?: 'reset' | 'status';
  /**
   * The status of a failing request when `failWith` is `status`.
   * @default 503
   */
  status?: number;
  /**
   * The body of a successful answer.
   * @default 'ok\n'
   */
  body?: string;
}

/** Fails the first `failures` requests of each path, then answers 200. */
export function flakyUpstream(options: FlakyOptions = {}): Promise<Upstream> {
  const failures = options.failures ?? 1;
  const seen = new Map<string, number>();
  const ok = options.body ?? 'ok\n';
  return httpUpstream((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const count = (seen.get(path) ?? 0) + 1;
    seen.set(path, count);
    if (count <= failures && (options.failWith ?? 'reset') === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    req.resume();
    const [status, body] = count <= failures ? [options.status ?? 503, 'flaky failure\n'] : [200, ok];
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
}

/** A request an {@link eagerUpstream} parsed. */
export interface ReceivedRequest {
  method: string;
  /** The request-target exactly as it arrived. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Names and values as they arrived, in order (`req.rawHeaders`). */
  rawHeaders: string[];
  /** The body bytes read so far, as latin1 (byte for byte); complete once `ended`. */
  body: string;
  /** Whether the whole body (as its framing says) arrived. */
  ended: boolean;
}

/** A running {@link eagerUpstream}. */
export interface EagerUpstream extends Upstream {
  /** Every request parsed, in order, across all connections (`requests` counts them). */
  readonly received: readonly ReceivedRequest[];
  /** How many connections it accepted. */
  readonly connections: number;
}

/** Options of {@link eagerUpstream}. */
export interface EagerOptions {
  /**
   * The status of every answer.
   * @default 200
   */
  status?: number;
  /**
   * The body of every answer.
   * @default 'ok\n'
   */
  body?: string;
}

/**
 * A keep-alive HTTP/1.1 server that answers each request as soon as its head is parsed, before reading its body, then
 * reads the body as its framing says and records everything. A gateway whose framing disagrees with the body it
 * sends shows up here: the rest of the body is parsed as one more request on the same connection (smuggling), or the
 * connection waits for bytes that never come (`ended` stays false).
 */
export async function eagerUpstream(options: EagerOptions = {}): Promise<EagerUpstream> {
  const status = options.status ?? 200;
  const answer = options.body ?? 'ok\n';
  const state: UpstreamState = { requests: 0 };
  const received: ReceivedRequest[] = [];
  let connections = 0;
  const server = createServer((req, res) => {
    state.requests++;
    const seen: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: '',
      ended: false,
    };
    received.push(seen);
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(answer) });
    res.end(req.method === 'HEAD' ? undefined : answer);
    req.on('data', (chunk: Buffer) => {
      seen.body += chunk.toString('latin1');
    });
    req.on('end', () => {
      seen.ended = true;
    });
  });
  server.on('connection', () => connections++);
  const upstream = await listen(server, state);
  return {
    url: upstream.url,
    port: upstream.port,
    close: upstream.close,
    received,
    get requests() {
      return state.requests;
    },
    get connections() {
      return connections;
    },
  };
}
