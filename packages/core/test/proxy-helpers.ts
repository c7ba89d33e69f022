import { createServer, type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import {
  createErrorResponder,
  createProxy,
  type ErrorResponder,
  type GatewayProxy,
  type ProxyAbortEvent,
  type ProxyFailureEvent,
  type ProxyOptions,
  type ProxyRejectEvent,
  type ProxyResponseEvent,
  type ProxyRetryEvent,
} from '@gateway-errors/core';

/** A node:http server whose only handler is `proxy.forward()`, errors rendered by `createErrorResponder()`. */
export interface Gateway {
  readonly url: string;
  readonly port: number;
  readonly proxy: GatewayProxy;
  readonly responder: ErrorResponder;
  /** Every event, in order, when `record` was on. */
  readonly events: {
    failure: ProxyFailureEvent[];
    retry: ProxyRetryEvent[];
    abort: ProxyAbortEvent[];
    response: ProxyResponseEvent[];
    reject: ProxyRejectEvent[];
  };
  /** What each `forward()` settled with: an error to render, `undefined`, or the rejection. */
  readonly results: unknown[];
  /** Connections the gateway server accepted and that are still open. */
  readonly openConnections: () => number;
  close(): Promise<void>;
}

/** Options of {@link startGateway}. */
export interface GatewaySetup {
  /** Record every event (adds listeners). @default true */
  record?: boolean;
  /** Runs before `forward()`: an earlier middleware. */
  before?: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
}

/** Starts a gateway on 127.0.0.1, port 0. */
export async function startGateway(options: ProxyOptions, setup: GatewaySetup = {}): Promise<Gateway> {
  const proxy = createProxy(options);
  const responder = createErrorResponder();
  const events: Gateway['events'] = { failure: [], retry: [], abort: [], response: [], reject: [] };
  if (setup.record ?? true) {
    proxy.on('failure', (event) => events.failure.push(event));
    proxy.on('retry', (event) => events.retry.push(event));
    proxy.on('abort', (event) => events.abort.push(event));
    proxy.on('response', (event) => events.response.push(event));
    proxy.on('reject', (event) => events.reject.push(event));
  }
  const results: unknown[] = [];
  const server = createServer(async (req, res) => {
    await setup.before?.(req, res);
    try {
      const error = await proxy.forward(req, res);
      results.push(error);
      if (error) responder.send(error.failure, req, res);
    } catch (error) {
      results.push(error);
      res.statusCode = 500;
      res.end(`forward rejected: ${(error as Error).message}`);
    }
  });
  server.on('upgrade', (req, socket, head) => {
    void proxy.upgrade(req, socket, head, responder.render);
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    proxy,
    responder,
    events,
    results,
    openConnections: () => sockets.size,
    async close() {
      proxy.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A response as Node's client saw it. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with Node's client, no agent (a fresh connection each time). */
export function send(
  url: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Every byte a raw TCP client received, and how its connection ended. */
export interface RawExchange {
  /** The bytes, as latin1. */
  bytes: string;
  /** A clean close (FIN), a reset, or still open when we stopped waiting. */
  ending: 'fin' | 'reset' | 'open';
}

/** Writes `text` on a raw TCP connection and records everything that comes back until the connection ends. */
export function rawExchange(port: number, text: string | Buffer, waitMs = 3000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    const done = (ending: RawExchange['ending']) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks).toString('latin1'), ending });
    };
    const timer = setTimeout(() => done('open'), waitMs);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => done('fin'));
    socket.on('error', () => done('reset'));
  });
}

/**
 * Writes `text` on a raw TCP connection and resolves with the bytes once they hold a response head and as many body
 * bytes as its Content-Length says, whether or not the connection stays open (keep-alive); or with what came when the
 * connection ended first.
 */
export function rawReply(port: number, text: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    let bytes = '';
    const socket = connect(port, '127.0.0.1');
    const done = () => {
      socket.destroy();
      resolve(bytes);
    };
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.toString('latin1');
      const { head, body } = splitHead(bytes);
      const length = headerIn(head, 'content-length');
      if (bytes.includes('\r\n\r\n') && length !== undefined && body.length >= Number(length)) done();
    });
    socket.on('close', done);
    socket.on('error', () => {});
  });
}

/** Splits raw response bytes at the end of the head. */
export function splitHead(bytes: string): { head: string; body: string } {
  const end = bytes.indexOf('\r\n\r\n');
  return end === -1 ? { head: bytes, body: '' } : { head: bytes.slice(0, end), body: bytes.slice(end + 4) };
}

/** The value of a header in a raw head, lower-cased name. */
export function headerIn(head: string, name: string): string | undefined {
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (line.slice(0, colon).trim().toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

/** Waits until `check()` is true, polling; fails after `ms`. */
export async function until(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
