import { createSocket } from 'node:dgram';
import { type ClientRequest, createServer as createHttpServer, request as httpRequest } from 'node:http';
import {
  createServer as createHttpsServer,
  request as httpsRequest,
  type RequestOptions,
  type ServerOptions,
} from 'node:https';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { certificates, unacceptingUpstream } from '@gateway-errors/testing';

/**
 * Sources of real errors for the classification table: every function here makes a real client fail against a real
 * server on 127.0.0.1 and hands back what the client threw or emitted, untouched.
 */

interface Closable {
  close(): unknown;
}

const open: Closable[] = [];

/** Keeps `resource` to be closed by {@link closeAll} (in `afterEach`). */
export function track<T extends Closable>(resource: T): T {
  open.push(resource);
  return resource;
}

/** Closes everything {@link track} kept, newest first. */
export async function closeAll(): Promise<void> {
  for (const resource of open.splice(0).reverse()) await resource.close();
}

/** What `run` threw or rejected with; fails the test if it succeeded. */
export async function caught(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure, but the call succeeded');
}

/**
 * One request with node:http or node:https; the error the request or its response emitted. The response body is
 * read to its end, so a failure in the body is seen too.
 */
export function nodeRequestError(url: string, options: RequestOptions = {}): Promise<Error> {
  return new Promise((resolve, reject) => {
    const make = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req: ClientRequest = make(url, options, (res) => {
      res.on('error', resolve);
      res.on('end', () => reject(new Error(`expected a failure, got a complete ${res.statusCode} response`)));
      res.resume();
    });
    req.on('error', resolve);
    req.end();
  });
}

/** A plain TCP server on 127.0.0.1 that hands each accepted connection to `onSocket`. */
export async function tcpServer(onSocket: (socket: Socket) => void): Promise<{ port: number; url: string }> {
  const sockets = new Set<Socket>();
  const server: Server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onSocket(socket);
  });
  const port = await listen(server);
  track({
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  });
  return { port, url: `http://127.0.0.1:${port}` };
}

/** An HTTPS server on 127.0.0.1 with the kit's `valid` certificate and extra TLS `options`; answers 200. */
export async function httpsServer(options: ServerOptions): Promise<{ port: number; url: string }> {
  const server = createHttpsServer({ ...certificates.valid, ...options }, (_req, res) => res.end('ok'));
  server.on('tlsClientError', () => {});
  const port = await listen(server);
  track({
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return { port, url: `https://127.0.0.1:${port}` };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  return address.port;
}

/** A port whose TCP handshakes never complete, for real connect timeouts (the testing kit's). */
export async function unacceptingPort(): Promise<{ port: number; url: string }> {
  const upstream = track(await unacceptingUpstream());
  return { port: upstream.port, url: upstream.url };
}

/** The http-proxy API both engines share, as far as these tests use it. */
export interface ProxyEngine {
  web(req: unknown, res: unknown, options: object, callback: (error: Error) => void): void;
  close(): void;
}

/**
 * Sends one request through a bare http-proxy or http-proxy-3 instance, as a user's own proxy would run it, and
 * returns the error its per-request error callback (the `next` of an Express app) received.
 */
export async function proxiedError(engine: ProxyEngine, target: string, options: object = {}): Promise<Error> {
  let received: (error: Error) => void = () => {};
  const error = new Promise<Error>((resolve) => {
    received = resolve;
  });
  const server = createHttpServer((req, res) => {
    engine.web(req, res, { target, ...options }, (err) => {
      received(err);
      res.destroy();
    });
  });
  const port = await listen(server);
  track({
    close: () =>
      new Promise<void>((resolve) => {
        engine.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  const req = httpRequest({ host: '127.0.0.1', port, path: '/x' });
  req.on('error', () => {});
  req.on('response', (res) => res.resume());
  req.end();
  return error;
}

/** A request body that sends one chunk and never ends, so an upload never completes. */
export function endlessBody(): Readable {
  const body = new Readable({ read() {} });
  body.push('x'.repeat(1024));
  return body;
}

/** A name under the reserved `.invalid` TLD (RFC 6761 §6.4): it never resolves, and needs no network to fail. */
export const invalidHost = 'gateway-errors-test.invalid';

/**
 * A DNS server on 127.0.0.1 (UDP) for c-ares (`dns.Resolver`): `silent` never answers, `servfail` and `refused`
 * answer every query with that RCODE (RFC 1035 §4.1.1), echoing the question.
 */
export async function dnsServer(mode: 'silent' | 'servfail' | 'refused'): Promise<string> {
  const server = createSocket('udp4');
  server.on('message', (query, peer) => {
    if (mode === 'silent' || query.length < 12) return;
    const answer = Buffer.from(query);
    answer[2] = (answer[2] as number) | 0x80; // QR: a response
    answer[3] = 0x80 | (mode === 'servfail' ? 2 : 5); // RA, and RCODE 2 (SERVFAIL) or 5 (REFUSED)
    server.send(answer, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', resolve));
  track({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return `127.0.0.1:${server.address().port}`;
}

/** `127.0.0.1:port` of a UDP port where nothing listens (bound, then released). */
export async function closedUdpPort(): Promise<string> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return `127.0.0.1:${port}`;
}
