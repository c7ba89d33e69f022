import { request } from 'node:http';
import { type ChaosUpstream, chaosUpstream, largeBody, rawExchange, receivedLine } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';

let upstream: ChaosUpstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

/** One request with Node's client: the status and body, or how it failed. */
function send(
  url: string,
  method = 'GET',
  body?: Buffer,
): Promise<{ status?: number; body?: Buffer; headers?: Record<string, unknown>; error?: string; complete?: boolean }> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('close', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }),
      );
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code }));
    req.end(body);
  });
}

describe('chaosUpstream', () => {
  it('answers each route with its fault, and counts them', async () => {
    upstream = await chaosUpstream({ largeSize: 100_000 });
    const { url } = upstream;
    expect(await send(`${url}/fast`)).toMatchObject({ status: 200, complete: true, body: Buffer.from('fast\n') });
    const posted = Buffer.from('a body');
    expect((await send(`${url}/fast/x?y=1`, 'POST', posted)).body?.toString()).toBe(receivedLine(posted));
    expect(await send(`${url}/large`)).toMatchObject({ status: 200, complete: true, body: largeBody(100_000) });
    expect(await send(`${url}/slow`)).toMatchObject({ status: 200, body: Buffer.from('slow\n') });
    expect(await send(`${url}/reset`)).toEqual({ error: 'ECONNRESET' });
    expect(await send(`${url}/garbage`)).toEqual({ error: 'HPE_INVALID_CONSTANT' });
    expect(await send(`${url}/die`)).toMatchObject({
      status: 200,
      complete: false,
      body: Buffer.from('partial body\n'),
    });
    expect(await send(`${url}/500`)).toMatchObject({ status: 500, body: Buffer.from('upstream says 500\n') });
    expect(await send(`${url}/503`)).toMatchObject({ status: 503, headers: { 'retry-after': '7' } });
    expect(await send(`${url}/nothing`)).toMatchObject({ status: 404 });
    const hung = await rawExchange(upstream.port, 'GET /hang HTTP/1.1\r\nHost: u\r\n\r\n', { timeout: 100 });
    expect(hung).toEqual({ responses: [], bytes: '', ending: 'open' });
    expect(upstream.served).toEqual({
      fast: 2,
      large: 1,
      slow: 1,
      reset: 1,
      garbage: 1,
      die: 1,
      hang: 1,
      '500': 1,
      '503': 1,
      other: 1,
    });
    expect(upstream.requests).toBe(11);
  });

  it('HEAD gets the heads without bodies: a HEAD of /die is complete', async () => {
    upstream = await chaosUpstream();
    const { responses } = await rawExchange(upstream.port, 'HEAD /die HTTP/1.1\r\nHost: u\r\n\r\n', {
      methods: ['HEAD'],
    });
    expect(responses).toMatchObject([{ status: 200, body: '', complete: true }]);
    expect(responses[0]?.headers['content-length']).toEqual(['100000']);
    expect(responses[0]?.headers.connection).toEqual(['close']);
  });

  it('keeps connections alive between requests', async () => {
    upstream = await chaosUpstream();
    const { responses, ending } = await rawExchange(
      upstream.port,
      'GET /fast HTTP/1.1\r\nHost: u\r\n\r\nGET /503 HTTP/1.1\r\nHost: u\r\n\r\nGET /slow HTTP/1.1\r\nHost: u\r\n\r\n',
      { methods: ['GET', 'GET', 'GET'] },
    );
    expect(ending).toBe('done');
    expect(responses.map((response) => response.status)).toEqual([200, 503, 200]);
  });
});
