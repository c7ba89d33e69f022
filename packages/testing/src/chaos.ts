import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, type Upstream, type UpstreamState } from './upstream.js';

/** The routes of a {@link chaosUpstream}, each a fault (or a healthy answer). */
export const chaosRoutes = ['fast', 'large', 'slow', 'reset', 'garbage', 'die', 'hang', '500', '503'] as const;
/** One route of a {@link chaosUpstream}. */
export type ChaosRoute = (typeof chaosRoutes)[number];

/** Options of {@link chaosUpstream}. */
export interface ChaosOptions {
  /**
   * Milliseconds `/slow` waits before it answers.
   * @default 50
   */
  slowDelay?: number;
  /**
   * Bytes of the `/large` body.
   * @default 1048576
   */
  largeSize?: number;
  /**
   * The server's keep-alive timeout (Node's `server.keepAliveTimeout`), in milliseconds: how long an idle connection
   * stays open. Clients that honour `Keep-Alive: timeout=` close theirs first.
   * @default 5000
   */
  keepAliveTimeout?: number;
}

/** A running {@link chaosUpstream}. */
export interface ChaosUpstream extends Upstream {
  /** Requests per route (the first path segment), `other` for any other path. */
  readonly served: Readonly<Record<ChaosRoute | 'other', number>>;
}

/** The byte at position `i` of the `/large` body: a pattern a client can check without a copy. */
export function largeByte(i: number): number {
  return 97 + (i % 26);
}

/** The `/large` body of `size` bytes. */
export function largeBody(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = largeByte(i);
  return body;
}

/** What `/fast` answers to a request with a body: its length and SHA-256, so the client can check what arrived. */
export function receivedLine(body: Buffer): string {
  return `received ${body.length} ${createHash('sha256').update(body).digest('hex')}\n`;
}

function plain(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * One keep-alive HTTP/1.1 upstream with a fault per route (the first path segment; the rest of the path and the
 * query are ignored). Every route reads the whole request body first, then:
 *
 * - `/fast`: 200 `fast\n`; with a request body, `received <bytes> <sha256 hex>\n` (see {@link receivedLine});
 * - `/large`: 200 with `largeSize` bytes (1 MiB) of `abc…z` repeated (see {@link largeByte}), written as the client
 *   reads it;
 * - `/slow`: 200 `slow\n` after `slowDelay` ms (50);
 * - `/reset`: resets the connection (TCP RST), no response byte;
 * - `/garbage`: `SSH-2.0-OpenSSH_9.6\r\n` instead of a response, then FIN;
 * - `/die`: a 200 head announcing `Content-Length: 100000` and `Connection: close`, `partial body\n`, then FIN 20 ms
 *   later;
 * - `/hang`: never answers; the connection stays open until the client or `close()` ends it;
 * - `/500`: 500 `upstream says 500\n`;
 * - `/503`: 503 `upstream says 503\n` with `Retry-After: 7`;
 * - anything else: 404.
 *
 * HEAD gets the same heads, without bodies. A soak or a fault-injection test can point one gateway route at each.
 */
export async function chaosUpstream(options: ChaosOptions = {}): Promise<ChaosUpstream> {
  const slowDelay = options.slowDelay ?? 50;
  const large = largeBody(options.largeSize ?? 1048576);
  const served: Record<ChaosRoute | 'other', number> = {
    fast: 0,
    large: 0,
    slow: 0,
    reset: 0,
    garbage: 0,
    die: 0,
    hang: 0,
    '500': 0,
    '503': 0,
    other: 0,
  };
  const behave = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const segment = (req.url ?? '/').split(/[/?]/)[1] ?? '';
    const route = (chaosRoutes as readonly string[]).includes(segment) ? (segment as ChaosRoute) : 'other';
    served[route]++;
    const socket = req.socket;
    switch (route) {
      case 'fast':
        plain(res, 200, body.length > 0 ? receivedLine(body) : 'fast\n');
        return;
      case 'large':
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': large.length });
        res.end(req.method === 'HEAD' ? undefined : large);
        return;
      case 'slow': {
        const timer = setTimeout(() => plain(res, 200, 'slow\n'), slowDelay);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case 'reset':
        socket.resetAndDestroy();
        return;
      case 'garbage':
        socket.end('SSH-2.0-OpenSSH_9.6\r\n');
        return;
      case 'die': {
        // It says it will close: a HEAD answer is complete, and a client must not send another request on it.
        res.writeHead(200, {
          'Content-Type': 'text/plain; charset=utf-8',
          'Content-Length': 100000,
          Connection: 'close',
        });
        // A HEAD answer has no body to write: its head goes out alone, complete.
        if (req.method === 'HEAD') res.flushHeaders();
        else res.write('partial body\n');
        const timer = setTimeout(() => socket.end(), 20);
        socket.on('close', () => clearTimeout(timer));
        return;
      }
      case 'hang':
        return;
      case '500':
        plain(res, 500, 'upstream says 500\n');
        return;
      case '503':
        plain(res, 503, 'upstream says 503\n', { 'Retry-After': '7' });
        return;
      case 'other':
        plain(res, 404, 'no such chaos\n');
    }
  };
  const state: UpstreamState = { requests: 0 };
  const server = createServer((req, res) => {
    state.requests++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => behave(req, res, Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = options.keepAliveTimeout ?? 5000;
  const upstream = await listen(server, state);
  return Object.assign(upstream, { served });
}
