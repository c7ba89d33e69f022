import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import type { DrainResult } from '@gateway-errors/core';
import {
  hangingUpstream,
  httpUpstream,
  type Upstream,
  type WebSocketEchoUpstream,
  webSocketEchoUpstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, type Reply, send, startGateway } from './proxy-helpers.js';

let upstream: (Upstream & { sockets?: () => number }) | undefined;
let gateway: Gateway | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  agent?.destroy();
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = agent = undefined;
});

/** An upstream that holds every answer until the test releases it, and tells when each request arrived. */
async function heldUpstream() {
  const held: Array<{ req: IncomingMessage; res: ServerResponse }> = [];
  const arrivals: Array<() => void> = [];
  const connections = new Set<Socket>();
  const started = await httpUpstream((req, res) => {
    connections.add(req.socket);
    req.socket.once('close', () => connections.delete(req.socket));
    req.resume();
    held.push({ req, res });
    for (const arrived of arrivals.splice(0)) arrived();
  });
  return Object.assign(started, {
    /** Resolves once `count` requests arrived. */
    async arrived(count: number): Promise<void> {
      while (held.length < count) await new Promise<void>((resolve) => arrivals.push(resolve));
    },
    release(): void {
      for (const { req, res } of held.splice(0)) res.end(`answer to ${req.url}`);
    },
    /** Connections from the gateway still open. */
    sockets: () => connections.size,
    /** Resolves once every connection from the gateway closed. */
    async allClosed(): Promise<void> {
      await Promise.all([...connections].map((socket) => (socket.closed ? undefined : once(socket, 'close'))));
    },
  });
}

/** A request with a keep-alive client, as a browser or a load balancer sends it. */
function keepAliveSend(url: string): Promise<Reply> {
  agent ??= new Agent({ keepAlive: true });
  const via = agent;
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: via }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('proxy.drain()', () => {
  it('lets requests in flight finish, answers new ones 503 with Connection: close and Retry-After, then closes upstream connections', async () => {
    const held = await heldUpstream();
    upstream = held;
    gateway = await startGateway({ target: held.url });
    const slow = [keepAliveSend(`${gateway.url}/slow/1`), keepAliveSend(`${gateway.url}/slow/2`)];
    await held.arrived(2);
    let drainedYet = false;
    const drained = gateway.proxy.drain({ retryAfter: 3 }).then((result) => {
      drainedYet = true;
      return result;
    });
    // A new request: never forwarded, told to come back (elsewhere) and to close its connection.
    const late = await keepAliveSend(`${gateway.url}/late`);
    expect(late.status).toBe(503);
    expect(late.headers.connection).toBe('close');
    expect(late.headers['retry-after']).toBe('3');
    expect(late.headers['proxy-status']).toBe('gateway-errors; error=proxy_internal_response');
    expect(held.requests).toBe(2);
    expect(gateway.events.failure.map((event) => [event.path, event.attempt, event.failure.type])).toEqual([
      ['/late', 0, 'proxy_internal_response'],
    ]);
    // The slow ones are still running: nothing cut them, and the drain waits for them.
    expect(drainedYet).toBe(false);
    held.release();
    const answers = await Promise.all(slow);
    expect(answers.map((answer) => [answer.status, answer.body, answer.headers.connection])).toEqual([
      [200, 'answer to /slow/1', 'close'],
      [200, 'answer to /slow/2', 'close'],
    ]);
    expect(await drained).toEqual<DrainResult>({
      requests: { finished: 2, cut: 0 },
      tunnels: { closed: 0, cut: 0 },
    });
    // Then the agent's idle connections to the upstream were closed.
    await held.allClosed();
    expect(held.sockets()).toBe(0);
    // It stays drained; draining again is the same drain.
    expect((await send(`${gateway.url}/later`)).status).toBe(503);
    expect(gateway.proxy.drain()).toBe(gateway.proxy.drain());
  });

  it('cuts what is still running at the deadline', async () => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url });
    const stuck = send(`${gateway.url}/stuck`).then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code,
    );
    await new Promise<void>((resolve) => {
      const check = () => (upstream?.requests === 1 ? resolve() : setImmediate(check));
      check();
    });
    expect(await gateway.proxy.drain({ deadline: 20 })).toEqual<DrainResult>({
      requests: { finished: 0, cut: 1 },
      tunnels: { closed: 0, cut: 0 },
    });
    expect(await stuck).toBe('ECONNRESET');
    expect(gateway.events.abort.map((event) => [event.path, event.status])).toEqual([['/stuck', 499]]);
  });

  it('checks its options once, naming the fix', async () => {
    gateway = await startGateway({ target: 'http://127.0.0.1:1' });
    const { proxy } = gateway;
    expect(() => proxy.drain({ deadline: -1 })).toThrow(/drain deadline \(milliseconds\) must be a whole number/);
    expect(() => proxy.drain({ retryAfter: 1.5 })).toThrow(/drain retryAfter \(seconds\)/);
    expect(() => proxy.drain({ deadlin: 5 } as never)).toThrow(/Did you mean "deadline"/);
  });
});

/** RFC 6455 §1.3: the GUID a server appends to the client's key. */
const guid = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const key = 'dGhlIHNhbXBsZSBub25jZQ==';
const handshake = `GET /ws HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const goingAway = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** A WebSocket upstream at the byte level: it accepts a handshake when told, then writes what the test gives it. */
async function scriptedWebSocketUpstream() {
  const sockets: Socket[] = [];
  const waiting: Array<() => void> = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      sockets.push(socket);
      for (const resolve of waiting.splice(0)) resolve();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests: 0,
    async handshake(): Promise<Socket> {
      while (sockets.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
      return sockets[0] as Socket;
    },
    accept(socket: Socket): void {
      const accept = createHash('sha1').update(`${key}${guid}`).digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A raw client connection to the gateway: every byte it receives, and a promise for its close. */
function rawClient(port: number) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const client = { socket, bytes: Buffer.alloc(0), closed: once(socket, 'close') };
  const waiting: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    client.bytes = Buffer.concat([client.bytes, chunk]);
    for (const resolve of waiting.splice(0)) resolve();
  });
  return Object.assign(client, {
    /** Resolves once the bytes received so far end with `tail`. */
    async endsWith(tail: Buffer | string): Promise<void> {
      const end = Buffer.from(tail);
      while (!client.bytes.subarray(-end.length).equals(end)) await new Promise<void>((r) => waiting.push(r));
    },
  });
}

/** The 101 head's end, then `frames`: what the client receives from an open tunnel. */
function afterHead(bytes: Buffer): Buffer {
  return bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
}

describe('proxy.drain() and WebSocket tunnels', () => {
  let ws: Awaited<ReturnType<typeof scriptedWebSocketUpstream>> | undefined;
  afterEach(async () => {
    await ws?.close();
    ws = undefined;
  });

  it('closes an open tunnel with 1001 Going Away, then its upstream connection', async () => {
    const echo: WebSocketEchoUpstream = await webSocketEchoUpstream();
    upstream = echo;
    gateway = await startGateway({ target: echo.url });
    const client = rawClient(gateway.port);
    client.socket.write(handshake);
    await client.endsWith('\r\n\r\n');
    // A masked text frame "hi" from the client, echoed as is by the upstream.
    const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]);
    client.socket.write(frame);
    await client.endsWith(frame);
    const result = await gateway.proxy.drain();
    expect(result).toEqual<DrainResult>({ requests: { finished: 0, cut: 0 }, tunnels: { closed: 1, cut: 0 } });
    await client.closed;
    expect(afterHead(client.bytes)).toEqual(Buffer.concat([frame, goingAway]));
    expect(echo.openTunnels()).toBe(0);
  });

  it('waits for the end of the frame under way: a close frame inside it would corrupt the stream', async () => {
    ws = await scriptedWebSocketUpstream();
    gateway = await startGateway({ target: ws.url });
    const client = rawClient(gateway.port);
    client.socket.write(handshake);
    const upstreamSide = await ws.handshake();
    ws.accept(upstreamSide);
    await client.endsWith('\r\n\r\n');
    // A binary frame of 10 bytes, of which 4 came; the drain begins in the middle of it.
    const frame = Buffer.from([0x82, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    upstreamSide.write(frame.subarray(0, 6));
    await client.endsWith(frame.subarray(0, 6));
    const drained = gateway.proxy.drain();
    // The rest of the frame, and the start of the next: the first goes through, the second never.
    upstreamSide.write(Buffer.concat([frame.subarray(6), Buffer.from([0x81, 5, 0x68])]));
    expect(await drained).toEqual<DrainResult>({
      requests: { finished: 0, cut: 0 },
      tunnels: { closed: 1, cut: 0 },
    });
    await client.closed;
    expect(afterHead(client.bytes)).toEqual(Buffer.concat([frame, goingAway]));
  });

  it('cuts a tunnel whose frame never ends before the deadline', async () => {
    ws = await scriptedWebSocketUpstream();
    gateway = await startGateway({ target: ws.url });
    const client = rawClient(gateway.port);
    client.socket.write(handshake);
    const upstreamSide = await ws.handshake();
    ws.accept(upstreamSide);
    await client.endsWith('\r\n\r\n');
    upstreamSide.write(Buffer.from([0x82, 10, 0, 1]));
    await client.endsWith(Buffer.from([0x82, 10, 0, 1]));
    expect(await gateway.proxy.drain({ deadline: 20 })).toEqual<DrainResult>({
      requests: { finished: 0, cut: 0 },
      tunnels: { closed: 0, cut: 1 },
    });
    await client.closed;
    // No close frame inside the cut frame.
    expect(afterHead(client.bytes)).toEqual(Buffer.from([0x82, 10, 0, 1]));
  });

  it('closes a tunnel that opens during the drain at once: its handshake was in flight', async () => {
    ws = await scriptedWebSocketUpstream();
    gateway = await startGateway({ target: ws.url });
    const client = rawClient(gateway.port);
    client.socket.write(handshake);
    const upstreamSide = await ws.handshake();
    const drained = gateway.proxy.drain();
    ws.accept(upstreamSide);
    expect(await drained).toEqual<DrainResult>({
      requests: { finished: 1, cut: 0 },
      tunnels: { closed: 1, cut: 0 },
    });
    await client.closed;
    expect(client.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(afterHead(client.bytes)).toEqual(goingAway);
  });
});
