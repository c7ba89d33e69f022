import type { Server, Socket } from 'node:net';

/** A running test upstream on 127.0.0.1. */
export interface Upstream {
  /** Base URL, such as `http://127.0.0.1:41234`. Never `localhost`: it may resolve to `::1`. */
  readonly url: string;
  /** The port it listens on (or, for `refusingUpstream`, the port where nothing listens). */
  readonly port: number;
  /**
   * How many requests reached it: a request counts once its head has arrived (for `resetOnAccept`, once the
   * connection was accepted, since no request is ever read).
   */
  readonly requests: number;
  /** Stops listening and destroys every open connection. Safe to call twice. */
  close(): Promise<void>;
}

/** Where a raw upstream records what it saw; handed to each behaviour. */
export interface UpstreamState {
  requests: number;
}

/**
 * Starts `server` on 127.0.0.1, port 0, and wraps it as an {@link Upstream}. Every connection is tracked so that
 * `close()` never waits on a socket a misbehaving behaviour left open on purpose.
 */
export async function listen(
  server: Server,
  state: UpstreamState,
  protocol: 'http' | 'https' = 'http',
): Promise<Upstream> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A client that goes away mid-test must not crash the test runner.
    socket.on('error', () => {});
  });
  if (protocol === 'https') {
    server.on('tlsClientError', () => {});
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  const { port } = address;
  let closing: Promise<void> | undefined;
  return {
    url: `${protocol}://127.0.0.1:${port}`,
    port,
    get requests() {
      return state.requests;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}

const headEnd = Buffer.from('\r\n\r\n');

/**
 * Calls `onHead` once the request head (up to the blank line) has arrived on `socket`, with whatever followed it.
 * Raw behaviours use this so that they act after the upstream really received a request.
 */
export function onRequestHead(socket: Socket, onHead: (head: string, rest: Buffer) => void): void {
  let buffered = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf(headEnd);
    if (end === -1) return;
    socket.off('data', onData);
    onHead(buffered.subarray(0, end).toString('latin1'), buffered.subarray(end + headEnd.length));
  };
  socket.on('data', onData);
}
