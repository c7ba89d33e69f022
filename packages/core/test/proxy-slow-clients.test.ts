import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { httpUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { type Gateway, headerIn, send, splitHead, startGateway, until } from './proxy-helpers.js';

// Issue 13, item 3: a client that holds a concurrency slot without using it. `timeouts.idle` covers the client's side
// too (nginx's send_timeout and client_body_timeout): a response it leaves unread, or a request body it stops
// sending, for `idle` ms ends the exchange, frees the slot, and is never counted against the upstream.

const open: Array<{ close(): Promise<void> }> = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.destroy();
  for (const item of open.splice(0).reverse()) await item.close();
});

/**
 * An upstream with an endless answer at /endless (written as fast as the gateway takes it, never ended), a short one
 * at /small, and for /upload the size of the body it read, once it has read all of it. It records every request it
 * saw end before its answer or its body was complete.
 */
async function upstreamOf(): Promise<Upstream & { cut: string[] }> {
  const cut: string[] = [];
  const chunk = Buffer.alloc(64 * 1024, 97);
  const upstream = await httpUpstream((req: IncomingMessage, res: ServerResponse) => {
    res.on('close', () => {
      if (!res.writableFinished) cut.push(req.url ?? '');
    });
    if (req.url === '/early') {
      // Answers before the upload is complete, and ends once it is.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('early answer\n');
      req.resume();
      req.on('end', () => res.end());
      return;
    }
    if (req.url === '/upload') {
      let size = 0;
      req.on('data', (data: Buffer) => {
        size += data.length;
      });
      req.on('end', () => res.end(`read ${size} bytes\n`));
      return;
    }
    req.resume();
    if (req.url === '/small') {
      res.end('small answer\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', pump);
    pump();
  });
  open.push(upstream);
  return Object.assign(upstream, { cut });
}

async function gatewayOf(target: string, options: Partial<Parameters<typeof startGateway>[0]> = {}): Promise<Gateway> {
  const gateway = await startGateway({
    target,
    concurrency: { max: 2, queue: 0 },
    timeouts: { idle: 300 },
    // A single failure would open the circuit: a stall counted against the upstream would show at once.
    breaker: { consecutiveFailures: 1 },
    ...options,
  });
  open.push(gateway);
  return gateway;
}

/** A raw client that sends `text` and then nothing; it reads only when told to. */
function rawClient(port: number, text: string, options: { read: boolean }) {
  const socket = connect(port, '127.0.0.1');
  clients.push(socket);
  const received: Buffer[] = [];
  let ending: 'fin' | 'reset' | undefined;
  socket.on('error', () => {
    ending ??= 'reset';
  });
  socket.on('end', () => {
    ending ??= 'fin';
  });
  socket.on('data', (chunk: Buffer) => {
    if (received.length < 4) received.push(chunk);
  });
  socket.on('connect', () => socket.write(text));
  if (!options.read) socket.pause();
  return {
    socket,
    text: () => Buffer.concat(received).toString('latin1'),
    ending: () => ending,
  };
}

describe('a client that does not read its answer', () => {
  it('is cut after idle: its connection destroyed, the upstream request aborted, its slot freed', async () => {
    const upstream = await upstreamOf();
    const gateway = await gatewayOf(upstream.url);
    const stalled = [0, 1].map(() =>
      rawClient(gateway.port, 'GET /endless HTTP/1.1\r\nHost: gw\r\n\r\n', { read: false }),
    );
    await until(() => gateway.events.abort.length === 2, 10_000, 'both stalls to end');
    expect(gateway.events.abort).toMatchObject([
      { stalled: 'client-read', status: 499, phase: 'response-body', headSent: true, attempt: 1, path: '/endless' },
      { stalled: 'client-read', status: 499, phase: 'response-body', headSent: true, attempt: 1, path: '/endless' },
    ]);
    await until(() => upstream.cut.length === 2, 5000, 'both upstream requests to be aborted');
    expect(upstream.cut).toEqual(['/endless', '/endless']);
    // Never counted against the upstream: no failure, and the circuit (one failure opens it) let the next through.
    expect(gateway.events.failure).toEqual([]);
    const third = await send(`${gateway.url}/small`);
    expect(third).toMatchObject({ status: 200, body: 'small answer\n' });
    // What the stalled clients had not read yet is theirs to find truncated: a 200 head, then the connection ends.
    for (const client of stalled) {
      client.socket.resume();
      await until(() => client.ending() !== undefined, 5000, 'the client connection to end');
      expect(client.text().startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    }
  });

  it('a slow but steady reader is served in full, and nothing is counted against anyone', async () => {
    const size = 16 << 20;
    const upstream = await httpUpstream((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-length': size });
      const chunk = Buffer.alloc(1 << 20, 98);
      let left = size;
      const pump = () => {
        while (left > 0) {
          left -= chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    open.push(upstream);
    const gateway = await gatewayOf(upstream.url, { timeouts: { idle: 1000 } });
    const client = rawClient(gateway.port, 'GET /big HTTP/1.1\r\nHost: gw\r\n\r\n', { read: true });
    // Reads 1 MiB, then takes a break of a tenth of the idle timeout, until all of it arrived: the breaks add up to
    // more than the idle timeout, which the upstream, held back meanwhile, is not blamed for.
    let bytes = 0;
    let sinceBreak = 0;
    client.socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      sinceBreak += chunk.length;
      if (sinceBreak >= 1 << 20) {
        sinceBreak = 0;
        client.socket.pause();
        setTimeout(() => client.socket.resume(), 100);
      }
    });
    await until(() => gateway.events.response.length === 1, 20_000, 'the response to complete');
    const { head } = splitHead(client.text());
    expect(headerIn(head, 'content-length')).toBe(String(size));
    await until(() => bytes >= size, 5000, 'every byte');
    expect(gateway.events.abort).toEqual([]);
    expect(gateway.events.failure).toEqual([]);
  });
});

describe('a client that stalls its upload', () => {
  it('a streamed body: 408 with Connection: close, the upstream request aborted, the slot freed', async () => {
    const upstream = await upstreamOf();
    const gateway = await gatewayOf(upstream.url);
    // Larger than maxBufferedBody (64 KiB): streamed to the upstream as it comes.
    const head = 'PUT /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n\r\n';
    const stalled = [0, 1].map(() => rawClient(gateway.port, `${head}0123456789`, { read: true }));
    await until(() => gateway.events.abort.length === 2, 5000, 'both stalls to end');
    expect(gateway.events.abort).toMatchObject([
      { stalled: 'client-body', status: 408, phase: 'request', headSent: false, attempt: 1, method: 'PUT' },
      { stalled: 'client-body', status: 408, phase: 'request', headSent: false, attempt: 1, method: 'PUT' },
    ]);
    for (const client of stalled) {
      await until(() => client.ending() !== undefined, 5000, 'the client connection to end');
      const { head: answer, body } = splitHead(client.text());
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
      expect(headerIn(answer, 'connection')).toBe('close');
      expect(headerIn(answer, 'cache-control')).toBe('no-store');
      expect(headerIn(answer, 'content-type')).toBe('text/plain; charset=utf-8');
      expect(body).toBe('Request Timeout: the request body stopped arriving\n');
      expect(client.ending()).toBe('fin');
    }
    await until(() => upstream.cut.length === 2, 5000, 'both upstream requests to be aborted');
    expect(gateway.events.failure).toEqual([]);
    expect(await send(`${gateway.url}/small`)).toMatchObject({ status: 200, body: 'small answer\n' });
  });

  it('after an early answer: the connection is cut, and the answer found truncated', async () => {
    const upstream = await upstreamOf();
    const gateway = await gatewayOf(upstream.url);
    const head = 'PUT /early HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n\r\n';
    const stalled = rawClient(gateway.port, `${head}0123456789`, { read: true });
    await until(() => gateway.events.abort.length === 1, 5000, 'the stall to end');
    expect(gateway.events.abort[0]).toMatchObject({ stalled: 'client-body', status: 499, headSent: true });
    await until(() => stalled.ending() !== undefined, 5000, 'the client connection to end');
    expect(stalled.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*early answer\n\r\n$/);
    await until(() => upstream.cut.length === 1, 5000, 'the upstream request to be aborted');
    expect(gateway.events.failure).toEqual([]);
  });

  it('a slow but steady upload goes through, its pauses adding up to more than the idle timeout', async () => {
    const upstream = await upstreamOf();
    const gateway = await gatewayOf(upstream.url, { timeouts: { idle: 1000 } });
    const parts = 20;
    const client = rawClient(
      gateway.port,
      `PUT /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: ${parts * 100_000}\r\n\r\n`,
      { read: true },
    );
    // 100 kB every tenth of the idle timeout.
    for (let i = 0; i < parts; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      client.socket.write(Buffer.alloc(100_000, 99));
    }
    await until(() => gateway.events.response.length === 1, 5000, 'the answer');
    expect(splitHead(client.text()).body).toContain(`read ${parts * 100_000} bytes\n`);
    expect(gateway.events.abort).toEqual([]);
  });

  it('a small body is read before a slot is taken: a stall never holds one, and is answered 408', async () => {
    const upstream = await upstreamOf();
    const arrived: string[] = [];
    const gateway = await startGateway(
      { target: upstream.url, concurrency: { max: 1, queue: 0 }, timeouts: { idle: 1000 } },
      { before: (req) => void arrived.push(req.url ?? '') },
    );
    open.push(gateway);
    const stalled = rawClient(
      gateway.port,
      'POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n0123456789',
      { read: true },
    );
    await until(() => arrived.length === 1, 5000, 'the stalled request to arrive');
    // The only slot is free while that body stalls.
    expect(await send(`${gateway.url}/upload`, { method: 'POST', body: 'x'.repeat(100) })).toMatchObject({
      status: 200,
      body: 'read 100 bytes\n',
    });
    await until(() => stalled.ending() !== undefined, 5000, 'the stalled client to be answered');
    expect(stalled.text().split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(gateway.events.abort).toMatchObject([
      { stalled: 'client-body', status: 408, phase: 'request', headSent: false, attempt: 0, method: 'POST' },
    ]);
    // Never forwarded.
    expect(upstream.requests).toBe(1);
  });

  it('a small body that stalls without a concurrency limit is answered 408 too (its read is bounded)', async () => {
    const upstream = await upstreamOf();
    const gateway = await startGateway({ target: upstream.url, timeouts: { idle: 300 } });
    open.push(gateway);
    const stalled = rawClient(
      gateway.port,
      'POST /upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\n0123456789',
      { read: true },
    );
    await until(() => stalled.ending() !== undefined, 5000, 'the stalled client to be answered');
    expect(stalled.text().split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(gateway.events.abort).toMatchObject([{ stalled: 'client-body', status: 408, attempt: 0 }]);
    expect(upstream.requests).toBe(0);
  });
});
