import { Agent, request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  hangingUpstream,
  httpUpstream,
  resetAfterRequest,
  slowHeadUpstream,
  stallMidBodyUpstream,
  type Upstream,
  unacceptingUpstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, headerIn, rawExchange, send, splitHead, startGateway, until } from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

const json = { accept: 'application/json' };

describe('connect timeout', () => {
  it('ends a connect that never completes in 504 connection_timeout, told apart as the connect timer', async () => {
    upstream = await unacceptingUpstream();
    gateway = await startGateway({ target: upstream.url, timeouts: { connect: 300 }, retry: false });
    const reply = await send(`${gateway.url}/x`, { headers: json });
    expect(reply.status).toBe(504);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_timeout');
    expect(reply.headers['retry-after']).toBe('5');
    expect(JSON.parse(reply.body)).toMatchObject({ status: 504, errorType: 'connection_timeout' });
    const [event] = gateway.events.failure;
    expect(event).toMatchObject({
      timeout: 'connect',
      headSent: false,
      willRetry: false,
      attempt: 1,
      failure: { type: 'connection_timeout', status: 504, phase: 'connect', code: 'ETIMEDOUT' },
    });
    expect(event?.timings.connect).toBeUndefined();
    expect(event?.timings.total).toBeGreaterThanOrEqual(290);
    expect(String(event?.failure.cause)).toContain('timeouts.connect (300 ms)');
  });

  it('retries a connect timeout (the request never left), and the deadline stops the retries', async () => {
    upstream = await unacceptingUpstream();
    gateway = await startGateway({
      target: upstream.url,
      timeouts: { connect: 300, deadline: 450 },
      retry: { retries: 5 },
      // No jitter: the backoff before attempt 2 is 0, not a random share of 100 ms of the 150 ms left.
      clock: { random: () => 0 },
    });
    const reply = await send(`${gateway.url}/x`, { method: 'POST', headers: json, body: 'a=1' });
    expect(reply.status).toBe(504);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_timeout');
    // Attempt 1 ends at 300 ms by its connect timer; attempt 2 is cut by the deadline at 450 ms; no attempt 3.
    expect(gateway.events.failure.map((event) => [event.attempt, event.timeout, event.willRetry])).toEqual([
      [1, 'connect', true],
      [2, 'deadline', false],
    ]);
    expect(gateway.events.retry.map((event) => event.attempt)).toEqual([2]);
  });

  it("counts the agent's queue in the connect time, and never sends a request whose attempt already failed", async () => {
    // The upstream holds /first until the test lets it go: the agent's only socket stays busy meanwhile.
    const seen: string[] = [];
    let releaseFirst: () => void = () => {};
    upstream = await httpUpstream((req, res) => {
      req.resume();
      seen.push(req.url ?? '');
      if (req.url === '/first') releaseFirst = () => res.end('first\n');
      else res.end('other\n');
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    gateway = await startGateway({ target: upstream.url, agent, timeouts: { connect: 200 } });
    const first = send(`${gateway.url}/first`);
    await until(() => seen.length === 1, 5000, 'the first request upstream');
    // Both attempts of the second request wait for the only socket, and time out there.
    const second = await send(`${gateway.url}/second`);
    expect(second.status).toBe(504);
    expect(second.headers['proxy-status']).toBe('gateway-errors; error=connection_timeout');
    expect(gateway.events.failure.map((event) => [event.path, event.attempt, event.timeout])).toEqual([
      ['/second', 1, 'connect'],
      ['/second', 2, 'connect'],
    ]);
    releaseFirst();
    expect(await first).toMatchObject({ status: 200, body: 'first\n' });
    // Once the socket is free, the queued requests of the failed attempts are dropped, not sent: the agent's queue is
    // first in, first out, so a request sent now is the next the upstream sees.
    expect(await send(`${gateway.url}/third`)).toMatchObject({ status: 200, body: 'other\n' });
    expect(seen).toEqual(['/first', '/third']);
    agent.destroy();
  });
});

describe('response timeout', () => {
  it('answers a hanging upstream with 504 http_response_timeout, and retries a GET once', async () => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 200 } });
    const reply = await send(`${gateway.url}/x`, { headers: json });
    expect(reply.status).toBe(504);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=http_response_timeout');
    expect(upstream.requests).toBe(2);
    expect(gateway.events.failure.map((event) => [event.attempt, event.timeout, event.failure.type])).toEqual([
      [1, 'response', 'http_response_timeout'],
      [2, 'response', 'http_response_timeout'],
    ]);
    expect(gateway.events.failure[0]?.failure.phase).toBe('response-head');
    expect(gateway.events.failure[0]?.timings.connect).toBeTypeOf('number');
    expect(gateway.events.failure[0]?.timings.firstByte).toBeUndefined();
  });

  it('does not retry a POST whose request reached the upstream', async () => {
    upstream = await hangingUpstream();
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 200 } });
    const reply = await send(`${gateway.url}/x`, { method: 'POST', body: 'a=1' });
    expect(reply.status).toBe(504);
    expect(upstream.requests).toBe(1);
    expect(gateway.events.failure).toHaveLength(1);
  });

  it('answers a head slower than the response timeout with 504, and passes one within it', async () => {
    upstream = await slowHeadUpstream({ delay: 1500 });
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 200 }, retry: false });
    const slow = await send(`${gateway.url}/x`);
    expect(slow.status).toBe(504);
    expect(slow.headers['proxy-status']).toBe('gateway-errors; error=http_response_timeout');
    await gateway.close();
    await upstream.close();

    upstream = await slowHeadUpstream({ delay: 100 });
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 3000 }, retry: false });
    const fast = await send(`${gateway.url}/x`);
    expect(fast.status).toBe(200);
    expect(fast.body).toBe('slow ok\n');
    expect(gateway.events.failure).toHaveLength(0);
    expect(gateway.events.response[0]?.timings.firstByte).toBeGreaterThanOrEqual(90);
  });

  it('tells our timeout apart from a reset: a reset is connection_terminated with no timer named', async () => {
    upstream = await resetAfterRequest();
    gateway = await startGateway({ target: upstream.url, retry: false });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_terminated');
    expect(gateway.events.failure[0]).toMatchObject({
      timeout: undefined,
      failure: { type: 'connection_terminated', code: 'ECONNRESET' },
    });
  });

  it('ends an upload the upstream stopped reading in 504 connection_write_timeout', async () => {
    // An upstream that reads the request head and then nothing: the body backs up into our buffers.
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.once('data', () => socket.pause());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    upstream = {
      url: `http://127.0.0.1:${port}`,
      port,
      requests: 0,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
    gateway = await startGateway({ target: upstream.url, timeouts: { response: 400 }, retry: false });
    // The client streams up to 256 MiB; kernel buffers on loopback hold a few MiB at most.
    let sent = 0;
    const body = new Readable({
      read() {
        sent += 1 << 20;
        this.push(sent > 256 << 20 ? null : Buffer.alloc(1 << 20, 97));
      },
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${gateway?.url}/upload`,
        { method: 'PUT', agent: false, headers: { 'content-type': 'application/octet-stream' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', reject);
      body.pipe(req);
    });
    expect(status).toBe(504);
    expect(gateway.events.failure[0]).toMatchObject({
      timeout: 'response',
      failure: { type: 'connection_write_timeout', phase: 'request', status: 504 },
    });
    expect(sent).toBeLessThan(256 << 20);
  });
});

describe('idle timeout', () => {
  it('aborts the client connection after the idle timeout, with exactly the bytes received before', async () => {
    upstream = await stallMidBodyUpstream({ sent: 'partial body\n', declaredLength: 1000 });
    gateway = await startGateway({ target: upstream.url, timeouts: { idle: 300 } });
    const { bytes, ending } = await rawExchange(gateway.port, 'GET /x HTTP/1.1\r\nHost: gw\r\n\r\n');
    expect(ending).not.toBe('open');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(headerIn(head, 'content-length')).toBe('1000');
    expect(body).toBe('partial body\n');
    expect(gateway.events.failure).toHaveLength(1);
    expect(gateway.events.failure[0]).toMatchObject({
      timeout: 'idle',
      headSent: true,
      willRetry: false,
      failure: { type: 'connection_read_timeout', phase: 'response-body', status: 504 },
    });
    expect(gateway.results).toEqual([undefined]);
  });
  // A client that reads slowly, or not at all: proxy-slow-clients.test.ts.
});
