import { type IncomingMessage, request } from 'node:http';
import {
  drippingHeadUpstream,
  echoUpstream,
  httpUpstream,
  informationalUpstream,
  parseResponses,
  rawExchange,
  refusingUploadUpstream,
  resetMidUploadUpstream,
  type Upstream,
  unsolicitedUpgradeUpstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';

let upstream: Upstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

interface Seen {
  status?: number;
  body?: string;
  error?: string;
  /** Node's `information` events (1xx other than 101), in order. */
  informational: { status: number; headers: Record<string, unknown> }[];
  /** Node's `continue` events. */
  continues: number;
  /** Node's `upgrade` event, when a listener asked for it. */
  upgrade?: number;
}

/** One request with Node's HTTP client, recording every event it emits on the way. */
function nodeClient(
  url: string,
  options: { method?: string; body?: Buffer; listenForUpgrade?: boolean } = {},
): Promise<Seen> {
  return new Promise((resolve) => {
    const seen: Seen = { informational: [], continues: 0 };
    const req = request(url, { method: options.method ?? 'GET', agent: false });
    req.on('information', (info) => seen.informational.push({ status: info.statusCode, headers: info.headers }));
    req.on('continue', () => seen.continues++);
    if (options.listenForUpgrade) {
      req.on('upgrade', (res: IncomingMessage, socket) => {
        socket.destroy();
        resolve({ ...seen, upgrade: res.statusCode });
      });
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ ...seen, status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ ...seen, error: error.code }));
    // Node reports nothing else when it drops a connection itself (an upgrade nobody listens for).
    req.on('close', () => resolve({ ...seen, error: 'closed' }));
    req.end(options.body);
  });
}

describe('protocol upstreams', () => {
  it('drippingHeadUpstream: the head byte by byte, then the body', async () => {
    upstream = await drippingHeadUpstream({ interval: 2, padding: 3 });
    const { responses, ending } = await rawExchange(upstream.port, 'GET / HTTP/1.1\r\nHost: u\r\n\r\n');
    expect(ending).toBe('done');
    expect(responses).toEqual([
      expect.objectContaining({
        status: 200,
        headers: expect.objectContaining({ 'x-drip': ['...'], connection: ['close'] }),
        body: 'dripped\n',
        complete: true,
      }),
    ]);
    expect(await nodeClient(upstream.url)).toMatchObject({ status: 200, body: 'dripped\n' });
  });

  it('informationalUpstream: 103 Early Hints, then the final answer', async () => {
    upstream = await informationalUpstream();
    const { responses } = await rawExchange(upstream.port, 'GET / HTTP/1.1\r\nHost: u\r\n\r\n');
    expect(responses).toMatchObject([
      {
        status: 200,
        body: 'final answer\n',
        informational: [{ status: 103, headers: { link: ['</style.css>; rel=preload; as=style'] } }],
      },
    ]);
    expect(await nodeClient(upstream.url)).toEqual({
      status: 200,
      body: 'final answer\n',
      informational: [{ status: 103, headers: { link: '</style.css>; rel=preload; as=style' } }],
      continues: 0,
    });
  });

  it('informationalUpstream: its own 100 Continue, unasked', async () => {
    upstream = await informationalUpstream({ informational: [{ status: 100 }], status: 201, body: 'made\n' });
    expect(await nodeClient(upstream.url, { method: 'POST', body: Buffer.from('x') })).toEqual({
      status: 201,
      body: 'made\n',
      informational: [{ status: 100, headers: {} }],
      continues: 1,
    });
  });

  it('unsolicitedUpgradeUpstream: a 101 nobody asked for, then bytes of another protocol', async () => {
    upstream = await unsolicitedUpgradeUpstream();
    const { bytes, ending } = await rawExchange(upstream.port, 'GET / HTTP/1.1\r\nHost: u\r\n\r\n', { timeout: 200 });
    expect(bytes).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x02hi',
    );
    expect(ending).toBe('done');
    // Node's client hands it to an `upgrade` listener; without one it drops the connection and reports no error.
    expect(await nodeClient(upstream.url, { listenForUpgrade: true })).toMatchObject({ upgrade: 101 });
    expect(await nodeClient(upstream.url)).toEqual({ informational: [], continues: 0, error: 'closed' });
  });

  it('unsolicitedUpgradeUpstream({ upgrade: false }): a bare 101, which Node takes for a final answer', async () => {
    upstream = await unsolicitedUpgradeUpstream({ upgrade: false });
    const { bytes } = await rawExchange(upstream.port, 'GET / HTTP/1.1\r\nHost: u\r\n\r\n', { timeout: 200 });
    expect(bytes).toBe('HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi');
    const seen = new Promise<number | undefined>((resolve) => {
      const req = request(upstream?.url ?? '', { agent: false }, (res) => {
        resolve(res.statusCode);
        req.destroy();
      });
      req.on('error', () => resolve(undefined));
      req.end();
    });
    expect(await seen).toBe(101);
  });

  it('refusingUploadUpstream: 417 before reading the body, then FIN', async () => {
    const refusing = await refusingUploadUpstream();
    upstream = refusing;
    const { responses, ending } = await rawExchange(
      refusing.port,
      'POST / HTTP/1.1\r\nHost: u\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
      // Not done at the first answer: wait for the close.
      { responses: 2 },
    );
    expect(ending).toBe('fin');
    expect(responses).toMatchObject([{ status: 417, body: 'upload refused\n', headers: { connection: ['close'] } }]);
    expect(responses[0]?.informational).toEqual([]);
    expect(await nodeClient(refusing.url, { method: 'POST', body: Buffer.alloc(100_000, 'a') })).toMatchObject({
      status: 417,
      body: 'upload refused\n',
    });
  });

  it('resetMidUploadUpstream: reads `after` body bytes, then RST, no answer', async () => {
    const resetting = await resetMidUploadUpstream({ after: 1000 });
    upstream = resetting;
    const seen = await nodeClient(resetting.url, { method: 'POST', body: Buffer.alloc(1_000_000, 'a') });
    expect(seen.status).toBeUndefined();
    expect(['ECONNRESET', 'EPIPE']).toContain(seen.error);
    expect(resetting.received).toBe(1000);
    expect(resetting.requests).toBe(1);
  });
});

describe('rawExchange', () => {
  it('pipelined requests: every answer, in order, the HEAD one without a body', async () => {
    upstream = await echoUpstream();
    const { responses, ending } = await rawExchange(
      upstream.port,
      'GET /a HTTP/1.1\r\nHost: u\r\n\r\nHEAD /b HTTP/1.1\r\nHost: u\r\n\r\n' +
        'POST /c HTTP/1.1\r\nHost: u\r\nContent-Length: 3\r\n\r\nabc',
      { methods: ['GET', 'HEAD', 'POST'] },
    );
    expect(ending).toBe('done');
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200]);
    expect(JSON.parse(responses[0]?.body ?? '')).toMatchObject({ method: 'GET', url: '/a' });
    expect(responses[1]?.body).toBe('');
    expect(JSON.parse(responses[2]?.body ?? '')).toMatchObject({ method: 'POST', url: '/c', body: 'abc' });
  });

  it('an HTTP/1.0 request: a body delimited by the close is complete only once the server closed', async () => {
    upstream = await httpUpstream((_req, res) => {
      res.write('streamed ');
      res.end('body\n');
    });
    const { responses, ending } = await rawExchange(upstream.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(ending).toBe('fin');
    expect(responses).toMatchObject([{ version: '1.1', status: 200, body: 'streamed body\n', complete: true }]);
    expect(responses[0]?.headers['transfer-encoding']).toBeUndefined();
    expect(parseResponses('HTTP/1.1 200 OK\r\n\r\npartial', [], false)).toMatchObject([{ complete: false }]);
  });

  it('parseResponses: chunked bodies, with trailers, and cut ones', () => {
    const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n';
    expect(parseResponses(`${chunked}HTTP/1.1 204 No Content\r\n\r\n`)).toMatchObject([
      { status: 200, body: 'abcde', complete: true },
      { status: 204, body: '', complete: true },
    ]);
    expect(parseResponses('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')).toMatchObject([
      { body: 'abc', complete: false },
    ]);
    expect(parseResponses('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')).toMatchObject([
      { body: 'abc', complete: false },
    ]);
  });
});
