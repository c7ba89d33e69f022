import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listen, type Upstream, type UpstreamState } from './upstream.js';

/** Options of {@link keepAliveRaceUpstream}. */
export interface KeepAliveRaceOptions {
  /**
   * How a connection is closed once the next request's head has arrived: `fin` ends it (the client reads the end of
   * the stream: Node says "socket hang up"), `reset` resets it (TCP RST: `ECONNRESET`).
   * @default 'fin'
   */
  close?: 'fin' | 'reset';
  /**
   * Requests answered on each connection before it is closed at the next.
   * @default 1
   */
  answers?: number;
  /**
   * The body of every answer.
   * @default 'ok\n'
   */
  body?: string;
}

/** A running {@link keepAliveRaceUpstream}. */
export interface KeepAliveRaceUpstream extends Upstream {
  /** How many connections it accepted. */
  readonly connections: number;
  /** How many connections it closed with a request's head read and nothing answered (the race, lost). */
  readonly closed: number;
}

/**
 * The keep-alive race, made deterministic: a keep-alive HTTP/1.1 server that answers the first `answers` requests of
 * each connection (200, `body`, `Keep-Alive: timeout=5` as Node's server sends it, and `X-Connection: <n>`, the
 * connection's number from 1), then reads the head of the next request on that connection and closes it without a
 * byte of answer. That is what a client meets when it reuses a pooled connection just as the upstream closes it for
 * being idle, except that here the upstream provably read the request head: a POST sent again could run twice.
 * `requests` counts every head read, the closing ones included.
 */
export async function keepAliveRaceUpstream(options: KeepAliveRaceOptions = {}): Promise<KeepAliveRaceUpstream> {
  const close = options.close ?? 'fin';
  const answers = options.answers ?? 1;
  const body = options.body ?? 'ok\n';
  const state: UpstreamState = { requests: 0 };
  const numbers = new WeakMap<Socket, number>();
  const served = new WeakMap<Socket, number>();
  let connections = 0;
  let closed = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    state.requests++;
    const socket = req.socket;
    const count = (served.get(socket) ?? 0) + 1;
    served.set(socket, count);
    if (count > answers) {
      closed++;
      if (close === 'reset') {
        socket.resetAndDestroy();
        return;
      }
      // A FIN, not a close(): with the body's bytes unread in the kernel a close would send a RST instead. The rest
      // of whatever comes is read and dropped until the client closes its side.
      req.resume();
      socket.end();
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'X-Connection': String(numbers.get(socket)),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    numbers.set(socket, connections);
  });
  const upstream = await listen(server, state);
  return {
    url: upstream.url,
    port: upstream.port,
    close: upstream.close,
    get requests() {
      return state.requests;
    },
    get connections() {
      return connections;
    },
    get closed() {
      return closed;
    },
  };
}
