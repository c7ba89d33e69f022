import { Agent, createServer, request } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createProxy } from '@gateway-errors/core';
import {
  badHeaderUpstream,
  dieMidBodyUpstream,
  echoUpstream,
  flakyUpstream,
  garbageUpstream,
  hangingUpstream,
  httpUpstream,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  slowHeadUpstream,
  stallMidBodyUpstream,
  statusUpstream,
  testCA,
  tlsUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, rawExchange, send, startGateway } from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

describe('keep-alive agent', () => {
  it('reuses one upstream connection for requests in sequence', async () => {
    const connections = new Set<Socket>();
    upstream = await httpUpstream((req, res) => {
      connections.add(req.socket);
      req.resume();
      res.end('ok');
    });
    gateway = await startGateway({ target: upstream.url });
    for (let i = 0; i < 3; i++) expect((await send(`${gateway.url}/x`)).status).toBe(200);
    expect(upstream.requests).toBe(3);
    expect(connections.size).toBe(1);
    // A reused connection has no connect step: only the first attempt measured one.
    expect(gateway.events.response.map((event) => event.timings.connect !== undefined)).toEqual([true, false, false]);
  });

  it("closes an idle upstream connection before the upstream's Keep-Alive timeout, never racing its close", async () => {
    // The upstream says `Keep-Alive: timeout=2` and closes an idle connection after 2 s. A gateway that keeps it longer
    // sends its next request as the upstream closes it: a reset, and for a POST, which is never retried, a 502.
    const server = createServer((req, res) => {
      req.resume();
      res.end('ok');
    });
    server.keepAliveTimeout = 2000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const closedBy = new Promise<'gateway' | 'upstream'>((resolve) => {
      server.once('connection', (socket: Socket) => {
        let gatewayEnded = false;
        socket.on('end', () => {
          gatewayEnded = true;
        });
        socket.on('close', () => resolve(gatewayEnded ? 'gateway' : 'upstream'));
      });
    });
    const { port } = server.address() as AddressInfo;
    gateway = await startGateway({ target: `http://127.0.0.1:${port}` });
    try {
      expect((await send(`${gateway.url}/x`)).status).toBe(200);
      expect(await closedBy).toBe('gateway');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('leaves your own agent alone on close()', async () => {
    upstream = await echoUpstream();
    const agent = new Agent({ keepAlive: true });
    const proxy = createProxy({ target: upstream.url, agent });
    proxy.close();
    const status = await new Promise<number>((resolve, reject) => {
      request(`${upstream?.url}/x`, { agent }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(200);
    agent.destroy();
  });
});

describe('TLS towards the upstream is verified by default', () => {
  it('answers a self-signed upstream with 502 tls_certificate_error', async () => {
    upstream = await tlsUpstream({ certificate: 'selfSigned' });
    gateway = await startGateway({ target: upstream.url, retry: false });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=tls_certificate_error');
    expect(gateway.events.failure[0]?.failure).toMatchObject({
      type: 'tls_certificate_error',
      phase: 'tls',
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      mayHaveReachedUpstream: false,
    });
    expect(upstream.requests).toBe(0);
  });

  it.each([
    ['expired', 'CERT_HAS_EXPIRED'],
    ['wrongHost', 'ERR_TLS_CERT_ALTNAME_INVALID'],
  ] as const)('trusting the test CA, still refuses the %s certificate (%s)', async (certificate, code) => {
    upstream = await tlsUpstream({ certificate });
    gateway = await startGateway({ target: upstream.url, tls: { ca: testCA }, retry: false });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=tls_certificate_error');
    expect(gateway.events.failure[0]?.failure.code).toBe(code);
  });

  it('passes a valid certificate when tls.ca trusts its CA, with DNS-free TCP and TLS timings', async () => {
    upstream = await tlsUpstream({ certificate: 'valid' });
    gateway = await startGateway({ target: upstream.url, tls: { ca: testCA } });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok\n');
    const timings = gateway.events.response[0]?.timings;
    expect(timings?.dns).toBeUndefined();
    expect(timings?.connect).toBeTypeOf('number');
    expect(timings?.tls).toBeGreaterThanOrEqual(timings?.connect ?? 0);
    expect(timings?.firstByte).toBeGreaterThanOrEqual(timings?.tls ?? 0);
  });

  it.each(['localhost', '127.0.0.1'])(
    'checks the certificate against the target’s host (%s), whatever Host the client sent (no changeOrigin needed)',
    async (host) => {
      upstream = await tlsUpstream({ certificate: 'valid' });
      const target = upstream.url.replace('127.0.0.1', host);
      gateway = await startGateway({ target, tls: { ca: testCA } });
      const { bytes } = await rawExchange(
        gateway.port,
        'GET /x HTTP/1.1\r\nHost: www.example\r\nConnection: close\r\n\r\n',
      );
      expect(bytes).toMatch(/^HTTP\/1\.1 200 /);
    },
  );

  it('refuses the valid certificate without its CA', async () => {
    upstream = await tlsUpstream({ certificate: 'valid' });
    gateway = await startGateway({ target: upstream.url, retry: false });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=tls_certificate_error');
  });

  it('skips verification only when told to', async () => {
    upstream = await tlsUpstream({ certificate: 'selfSigned' });
    gateway = await startGateway({ target: upstream.url, tls: { rejectUnauthorized: false } });
    expect((await send(`${gateway.url}/x`)).status).toBe(200);
  });

  it('refuses tls options next to your own agent, naming the fix', () => {
    expect(() => createProxy({ target: 'https://127.0.0.1:1', agent: new Agent(), tls: { ca: testCA } })).toThrow(
      /set TLS options .* on your own agent/,
    );
  });
});

/** Every behaviour of the kit, each with the options that make it end quickly. */
const kit: Array<[string, () => Promise<Upstream>]> = [
  ['refusing', refusingUpstream],
  ['resetOnAccept', resetOnAccept],
  ['resetAfterRequest', resetAfterRequest],
  ['hanging', hangingUpstream],
  ['garbage', garbageUpstream],
  ['status 099', () => garbageUpstream({ bytes: 'HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok' })],
  ['badHeader', badHeaderUpstream],
  ['oversizedHead', oversizedHeadUpstream],
  ['dieMidBody content-length', () => dieMidBodyUpstream()],
  ['dieMidBody chunked', () => dieMidBodyUpstream({ framing: 'chunked' })],
  ['stallMidBody', () => stallMidBodyUpstream()],
  ['tls selfSigned', () => tlsUpstream({ certificate: 'selfSigned' })],
  ['tls expired', () => tlsUpstream({ certificate: 'expired' })],
  ['tls wrongHost', () => tlsUpstream({ certificate: 'wrongHost' })],
  ['tls valid', () => tlsUpstream({ certificate: 'valid' })],
  ['flaky reset', () => flakyUpstream()],
  ['flaky status', () => flakyUpstream({ failWith: 'status', status: 503 })],
  ['slowHead', () => slowHeadUpstream({ delay: 600 })],
  ['status 503', () => statusUpstream({ status: 503, retryAfter: 'garbage' })],
  ['echo', () => echoUpstream()],
];

const handshake =
  'GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** Sends a chunked POST (no Content-Length) and settles however it ends. */
function chunkedPost(url: string): Promise<unknown> {
  return new Promise((resolve) => {
    const req = request(`${url}/chunked`, { method: 'POST', agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
      res.on('error', resolve);
    });
    req.on('error', resolve);
    req.write('part one,');
    setTimeout(() => req.end('part two'), 20);
  });
}

describe('no fault reaches an unhandled error', () => {
  it('survives every kit behaviour, for every kind of request, with and without intercept', async () => {
    const crashes: unknown[] = [];
    const onCrash = (error: unknown) => crashes.push(error);
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    const settled: string[] = [];
    try {
      for (const [name, make] of kit) {
        for (const intercept of [false, true]) {
          upstream = await make();
          gateway = await startGateway({
            target: upstream.url,
            tls: upstream.url.startsWith('https') ? { ca: testCA } : undefined,
            timeouts: { connect: 500, response: 400, idle: 400, deadline: 3000 },
            intercept,
          });
          const { url, port } = gateway;
          const swallow = (promise: Promise<unknown>) =>
            promise.catch((error: Error) => `client error ${error.message}`);
          await Promise.all([
            swallow(send(`${url}/get`)),
            swallow(send(`${url}/head`, { method: 'HEAD' })),
            swallow(send(`${url}/post`, { method: 'POST', body: 'hello' })),
            swallow(
              send(`${url}/delete`, { method: 'DELETE', headers: { 'transfer-encoding': 'chunked' }, body: 'x' }),
            ),
            chunkedPost(url),
            rawExchange(port, handshake, 1500),
            // A client that leaves half-way through.
            new Promise<void>((resolve) => {
              const client = rawExchange(port, 'GET /abort HTTP/1.1\r\nHost: gw\r\n\r\n', 60);
              void client.then(() => resolve());
            }),
          ]);
          settled.push(`${name}${intercept ? ' (intercept)' : ''}`);
          // Every request of the round is over in the proxy (forward() settled, its timers and upstream requests
          // stopped, its tunnels closed) before the sockets go: a late event would come from one still running.
          await gateway.proxy.drain();
          await gateway.close();
          await upstream.close();
          gateway = upstream = undefined;
        }
      }
    } finally {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    }
    expect(crashes).toEqual([]);
    expect(settled).toHaveLength(kit.length * 2);

    // And the process still proxies.
    upstream = await echoUpstream();
    gateway = await startGateway({ target: upstream.url });
    const reply = await send(`${gateway.url}/still-fine`);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ url: '/still-fine' });
  }, 60_000);
});
