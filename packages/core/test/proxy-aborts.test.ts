import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { httpUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, startGateway, until } from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

/** An upstream that records its open connections and hands each request to `behave`. */
async function watchedUpstream(behave: (req: IncomingMessage, res: ServerResponse) => void) {
  const open = new Set<Socket>();
  const closed: number[] = [];
  const server = await httpUpstream((req, res) => {
    const socket = req.socket;
    if (!open.has(socket)) {
      open.add(socket);
      socket.once('close', () => {
        open.delete(socket);
        closed.push(Date.now());
      });
    }
    behave(req, res);
  });
  return { server, open, closed };
}

/** A raw client: sends `text`, collects the bytes, and can vanish at any moment. */
function rawClient(port: number, text: string) {
  const socket = connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('error', () => {});
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('connect', () => socket.write(text));
  return { socket, received: () => Buffer.concat(received).toString('latin1') };
}

const get = 'GET /slow?x=1 HTTP/1.1\r\nHost: gw\r\n\r\n';

describe('client aborts', () => {
  it('while waiting for the head: stops the upstream request at once, answers nothing, emits a 499', async () => {
    const watched = await watchedUpstream((req) => req.resume());
    upstream = watched.server;
    gateway = await startGateway({ target: upstream.url });
    const client = rawClient(gateway.port, get);
    await until(() => upstream?.requests === 1, 5000, 'the request to reach the upstream');
    const left = Date.now();
    client.socket.destroy();
    await until(() => watched.open.size === 0, 2000, 'the upstream connection to close');
    expect(watched.closed[0]).toBeGreaterThanOrEqual(left);
    await until(() => gateway?.events.abort.length === 1, 2000, 'the abort event');
    expect(client.received()).toBe('');
    expect(gateway.events.abort[0]).toMatchObject({
      status: 499,
      phase: 'response-head',
      headSent: false,
      attempt: 1,
      method: 'GET',
      path: '/slow',
    });
    expect(gateway.events.failure).toHaveLength(0);
    expect(gateway.events.retry).toHaveLength(0);
    expect(gateway.results).toEqual([undefined]);
    expect(upstream.requests).toBe(1);
  });

  it('mid-body: stops the upstream response and emits a 499 with the head sent', async () => {
    const watched = await watchedUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first bytes\n');
    });
    upstream = watched.server;
    gateway = await startGateway({ target: upstream.url });
    const client = rawClient(gateway.port, get);
    await until(() => client.received().includes('first bytes'), 5000, 'the first body bytes');
    client.socket.destroy();
    await until(() => watched.open.size === 0, 2000, 'the upstream connection to close');
    await until(() => gateway?.events.abort.length === 1, 2000, 'the abort event');
    expect(gateway.events.abort[0]).toMatchObject({ status: 499, phase: 'response-body', headSent: true });
    expect(gateway.events.failure).toHaveLength(0);
  });

  it('while the body is read for a possible retry: no attempt starts', async () => {
    const watched = await watchedUpstream((_req, res) => res.end());
    upstream = watched.server;
    // The request reached the proxy (its body is being read, 10 of 100 bytes) before the client leaves.
    let arrived: () => void = () => {};
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    gateway = await startGateway({ target: upstream.url }, { before: () => arrived() });
    const client = rawClient(gateway.port, 'PUT /x HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n0123456789');
    await reached;
    client.socket.destroy();
    await until(() => gateway?.events.abort.length === 1, 2000, 'the abort event');
    expect(gateway.events.abort[0]).toMatchObject({ status: 499, phase: 'request', attempt: 0, method: 'PUT' });
    expect(upstream.requests).toBe(0);
  });

  it('leaks nothing: after many aborted requests, sockets and handles return to the baseline', async () => {
    const watched = await watchedUpstream((req, res) => {
      req.resume();
      // Half the requests wait for the head; the other half are cut mid-body.
      if (req.url?.startsWith('/body')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first bytes\n');
      }
    });
    upstream = watched.server;
    gateway = await startGateway({ target: upstream.url, timeouts: { deadline: 60_000 } });
    const count = (name: string) => process.getActiveResourcesInfo().filter((info) => info === name).length;
    // One request first, so that lazily created state (the agent, the engine) is part of the baseline.
    const warm = rawClient(gateway.port, get);
    await until(() => upstream?.requests === 1, 5000, 'the warm-up request');
    warm.socket.destroy();
    // Over on every side: the proxy's (its abort event), the client's, the gateway's and the upstream's sockets. The
    // upstream sees its connection close only after the gateway's end of it was closed, handle included.
    await until(
      () =>
        gateway?.events.abort.length === 1 &&
        warm.socket.closed &&
        watched.open.size === 0 &&
        gateway?.openConnections() === 0,
      2000,
      'the warm-up to end',
    );
    const baseline = { sockets: count('TCPSocketWrap'), timers: count('Timeout') };

    const rounds = 40;
    for (let i = 0; i < rounds; i++) {
      const path = i % 2 === 0 ? '/slow' : '/body';
      const client = rawClient(gateway.port, `GET ${path} HTTP/1.1\r\nHost: gw\r\n\r\n`);
      await until(() => upstream?.requests === i + 2, 5000, `request ${i}`);
      if (path === '/body') await until(() => client.received().includes('first bytes'), 5000, 'the body');
      client.socket.destroy();
    }
    await until(() => watched.open.size === 0, 5000, 'every upstream connection to close');
    await until(() => gateway?.openConnections() === 0, 5000, 'every client connection to close');
    await until(() => gateway?.events.abort.length === rounds + 1, 5000, 'every abort event');
    await until(
      () => count('TCPSocketWrap') <= baseline.sockets && count('Timeout') <= baseline.timers,
      5000,
      'handles back to the baseline',
    );
    expect(gateway.events.failure).toHaveLength(0);
    expect(gateway.events.abort.filter((event) => event.headSent)).toHaveLength(rounds / 2);
  });
});
