import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  connect as connectHttp2,
  createSecureServer as createSecureHttp2Server,
  constants as http2Constants,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { createProxy, type GatewayFailure, isGatewayError } from '@gateway-errors/core';
import {
  badHeaderUpstream,
  certificates,
  dieMidBodyUpstream,
  echoUpstream,
  garbageUpstream,
  httpUpstream,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  statusUpstream,
  testCA,
  type Upstream,
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

async function through(make: () => Promise<Upstream>, options: object = {}): Promise<Gateway> {
  upstream = await make();
  gateway = await startGateway({ target: upstream.url, retry: false, ...options });
  return gateway;
}

describe('failures before the response head resolve forward() with the right GatewayError', () => {
  const rows: Array<[string, number, string, () => Promise<Upstream>, Partial<GatewayFailure>]> = [
    ['refused', 502, 'connection_refused', refusingUpstream, { phase: 'connect', code: 'ECONNREFUSED' }],
    ['reset on accept', 502, 'connection_terminated', resetOnAccept, { code: 'ECONNRESET' }],
    ['reset after the request', 502, 'connection_terminated', resetAfterRequest, { phase: 'response-head' }],
    ['garbage', 502, 'http_protocol_error', garbageUpstream, { code: 'HPE_INVALID_CONSTANT' }],
    ['a control byte in a header', 502, 'http_protocol_error', badHeaderUpstream, {}],
    ['an oversized head', 502, 'http_response_header_section_size', oversizedHeadUpstream, {}],
  ];

  it.each(rows)('%s: %i %s', async (_name, status, type, make, details) => {
    const { url, results, events } = await through(make);
    const reply = await send(`${url}/x?token=secret`, { headers: { accept: 'application/json' } });
    expect(reply.status).toBe(status);
    expect(reply.headers['proxy-status']).toBe(`gateway-errors; error=${type}`);
    expect(reply.headers['retry-after']).toBe('5');
    expect(reply.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(reply.body)).toMatchObject({ status, errorType: type });
    const [error] = results;
    expect(isGatewayError(error)).toBe(true);
    expect(error).toMatchObject({ status, failure: { type, status, ...details } });
    expect(events.failure).toHaveLength(1);
    expect(events.failure[0]).toMatchObject({
      method: 'GET',
      path: '/x',
      upstream: upstream?.url,
      attempt: 1,
      headSent: false,
      willRetry: false,
      failure: { type },
    });
    expect(events.failure[0]?.requestId).toBe(reply.headers['x-request-id']);
    expect(events.failure[0]?.timings.total).toBeTypeOf('number');
  });
});

describe('a response Node parses but will not write', () => {
  it('a status below 100: 502 http_protocol_error instead of an uncaught RangeError', async () => {
    upstream = await garbageUpstream({ bytes: 'HTTP/1.1 099 Odd\r\nSet-Cookie: up=1\r\nContent-Length: 2\r\n\r\nok' });
    gateway = await startGateway(
      { target: upstream.url, retry: false },
      {
        before: (_req, res) => {
          res.setHeader('X-Frame-Options', 'DENY');
        },
      },
    );
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
    expect(reply.headers['set-cookie']).toBeUndefined();
    expect(reply.headers['x-frame-options']).toBe('DENY');
  });

  it('a 101 to a request that asked for no upgrade: 502 http_protocol_error, never an interim status as the answer', async () => {
    // RFC 9110 §15.2: a 1xx is never the final answer; §15.2.2: a server switches only to a protocol the request's
    // Upgrade named. Relayed, the 101 is the answer on a kept-alive connection: a client or front proxy that reads it
    // as interim takes the next response on that connection, another request's, for this one's.
    upstream = await garbageUpstream({
      bytes: 'HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello',
    });
    gateway = await startGateway({ target: upstream.url, retry: false });
    const { bytes } = await rawExchange(gateway.port, 'GET /x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    const { head } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
    expect(headerIn(head, 'proxy-status')).toBe('gateway-errors; error=http_protocol_error');
    expect(bytes).not.toContain('101');
    expect(gateway.events.failure).toMatchObject([{ failure: { type: 'http_protocol_error' }, headSent: false }]);
    expect(gateway.events.response).toEqual([]);
  });

  it('a 101 naming a protocol the request did not ask for: the same 502 at once, not after the response timer', async () => {
    upstream = await garbageUpstream({
      bytes: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes',
    });
    // A response timer the test would not outlive: the 502 must not wait for it.
    gateway = await startGateway({ target: upstream.url, retry: false, timeouts: { response: 60_000 } });
    const { bytes } = await rawExchange(gateway.port, 'GET /x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
    const { head } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
    expect(headerIn(head, 'proxy-status')).toBe('gateway-errors; error=http_protocol_error');
    expect(bytes).not.toContain('frames');
    expect(gateway.events.failure).toMatchObject([{ failure: { type: 'http_protocol_error' }, timeout: undefined }]);
  });
});

describe('failures after the response head destroy the client connection', () => {
  it('content-length framing: the head and the partial body, nothing appended, the connection ends', async () => {
    const { port, events, results } = await through(() =>
      dieMidBodyUpstream({ sent: 'partial body\n', declaredLength: 1000, headers: { 'Content-Type': 'text/plain' } }),
    );
    const { bytes, ending } = await rawExchange(port, 'GET /x HTTP/1.1\r\nHost: gw\r\n\r\n');
    expect(ending).not.toBe('open');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(headerIn(head, 'content-length')).toBe('1000');
    expect(headerIn(head, 'content-type')).toBe('text/plain');
    expect(headerIn(head, 'transfer-encoding')).toBeUndefined();
    expect(body).toBe('partial body\n');
    expect(results).toEqual([undefined]);
    expect(events.failure[0]).toMatchObject({
      headSent: true,
      willRetry: false,
      timeout: undefined,
      failure: { type: 'http_response_incomplete', phase: 'response-body' },
    });
    expect(events.failure[0]?.timings.firstByte).toBeTypeOf('number');
  });

  it('chunked framing: the chunks received, no terminating chunk, the connection ends', async () => {
    const { port, events } = await through(() => dieMidBodyUpstream({ framing: 'chunked', sent: 'partial body\n' }));
    const { bytes, ending } = await rawExchange(port, 'GET /x HTTP/1.1\r\nHost: gw\r\n\r\n');
    expect(ending).not.toBe('open');
    const { head, body } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(headerIn(head, 'transfer-encoding')).toBe('chunked');
    // One chunk of 13 bytes, re-framed by Node for our hop; never the last chunk `0\r\n\r\n`.
    expect(body).toBe('d\r\npartial body\n\r\n');
    expect(events.failure[0]).toMatchObject({ headSent: true, failure: { type: 'http_response_incomplete' } });
  });

  it('never retries once the head went out, even for a GET', async () => {
    upstream = await dieMidBodyUpstream();
    gateway = await startGateway({ target: upstream.url, retry: { retries: 3 } });
    await rawExchange(gateway.port, 'GET /x HTTP/1.1\r\nHost: gw\r\n\r\n');
    expect(upstream.requests).toBe(1);
    expect(gateway.events.retry).toHaveLength(0);
  });
});

describe('an upstream 5xx passes through', () => {
  it('with its status, body and Retry-After', async () => {
    const { url, events, results } = await through(() => statusUpstream({ status: 503, retryAfter: '30' }));
    const reply = await send(`${url}/x`);
    expect(reply.status).toBe(503);
    expect(reply.body).toBe('upstream says 503\n');
    expect(reply.headers['retry-after']).toBe('30');
    expect(reply.headers['proxy-status']).toBeUndefined();
    expect(results).toEqual([undefined]);
    expect(events.failure).toHaveLength(0);
    expect(events.response).toMatchObject([{ status: 503, attempt: 1 }]);
  });

  it('with an HTTP-date Retry-After turned into seconds, relative to its Date', async () => {
    const date = new Date(Math.floor(Date.now() / 1000) * 1000);
    const later = new Date(date.getTime() + 120_000);
    const { url } = await through(() =>
      statusUpstream({ status: 503, retryAfter: later.toUTCString(), headers: { Date: date.toUTCString() } }),
    );
    const reply = await send(`${url}/x`);
    expect(reply.headers['retry-after']).toBe('120');
  });

  it.each(['soon', '-5', '1.5', 'Tomorrow, 12:00'])('drops an invalid Retry-After %j', async (retryAfter) => {
    const { url } = await through(() => statusUpstream({ status: 502, retryAfter }));
    const reply = await send(`${url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.body).toBe('upstream says 502\n');
    expect(reply.headers['retry-after']).toBeUndefined();
  });
});

describe('intercept', () => {
  it('true: renders our page with the upstream status, its validated Retry-After and received-status', async () => {
    const { url, events, results } = await through(() => statusUpstream({ status: 503, retryAfter: '30' }), {
      intercept: true,
      retry: { retries: 2 },
    });
    const reply = await send(`${url}/x`, { headers: { accept: 'application/json' } });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('30');
    expect(reply.headers['proxy-status']).toBe('gateway-errors; received-status=503');
    expect(reply.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(reply.body)).toMatchObject({ status: 503, retryAfter: 30 });
    expect(reply.body).not.toContain('upstream says');
    expect(results[0]).toMatchObject({ status: 503, failure: { receivedStatus: 503, retryAfter: 30 } });
    // The upstream did answer: an intercepted 5xx is not retried.
    expect(upstream?.requests).toBe(1);
    expect(events.failure).toMatchObject([{ willRetry: false, failure: { receivedStatus: 503 } }]);
  });

  it('true: an invalid upstream Retry-After gives way to our hint', async () => {
    const { url } = await through(() => statusUpstream({ status: 502, retryAfter: 'soon' }), { intercept: true });
    const reply = await send(`${url}/x`);
    expect(reply.status).toBe(502);
    expect(reply.headers['retry-after']).toBe('5');
    expect(reply.headers['proxy-status']).toBe('gateway-errors; received-status=502');
  });

  it('a list: intercepts the listed statuses and passes the others through', async () => {
    const { url } = await through(() => statusUpstream({ status: 503 }), { intercept: [502, 504] });
    const passed = await send(`${url}/x`);
    expect(passed.status).toBe(503);
    expect(passed.body).toBe('upstream says 503\n');
    await gateway?.close();
    await upstream?.close();

    const listed = await through(() => statusUpstream({ status: 504 }), { intercept: [502, 504] });
    const intercepted = await send(`${listed.url}/x`, { headers: { accept: 'text/html' } });
    expect(intercepted.status).toBe(504);
    expect(intercepted.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(intercepted.headers['proxy-status']).toBe('gateway-errors; received-status=504');
    expect(intercepted.body).not.toContain('upstream says');
  });

  it('answers at once while the intercepted body stalls, and lets that connection go after the idle timeout', async () => {
    let closed = false;
    upstream = await httpUpstream((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.write('a body that never ends');
      req.socket.once('close', () => {
        closed = true;
      });
    });
    gateway = await startGateway({ target: upstream.url, intercept: true, timeouts: { idle: 300 } });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(503);
    expect(reply.headers['proxy-status']).toBe('gateway-errors; received-status=503');
    expect(closed).toBe(false);
    await until(() => closed, 3000, 'the stalled upstream connection to close');
  });
});

describe('an HTTP/2 request', () => {
  it('is sent back to HTTP/1.1 (HTTP_1_1_REQUIRED), which the same server then proxies', async () => {
    upstream = await echoUpstream();
    const proxy = createProxy({ target: upstream.url });
    // The common deployment: TLS, HTTP/2 for the clients that offer it, HTTP/1.1 for the others.
    const server = createSecureHttp2Server({ ...certificates.valid, allowHTTP1: true }, async (req, res) => {
      const error = await proxy.forward(req as unknown as IncomingMessage, res as unknown as ServerResponse);
      if (error !== undefined) res.writeHead(error.status).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const client = connectHttp2(`https://localhost:${port}`, { ca: testCA });
    try {
      const reset = await new Promise<number>((resolve, reject) => {
        const stream = client.request({ ':path': '/x' });
        stream.on('response', () => reject(new Error('an HTTP/2 response was sent')));
        stream.on('close', () => resolve(stream.rstCode ?? -1));
        stream.on('error', () => {});
        stream.resume();
      });
      expect(reset).toBe(http2Constants.NGHTTP2_HTTP_1_1_REQUIRED);
      expect(upstream.requests).toBe(0);
      // What a browser does next: the same request over HTTP/1.1.
      const again = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
        const request = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port, path: '/x', ca: testCA });
        request.on('response', (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          response.on('end', () => resolve({ status: response.statusCode, body }));
        });
        request.on('error', reject);
        request.end();
      });
      expect(again.status).toBe(200);
      expect(JSON.parse(again.body)).toMatchObject({ method: 'GET', url: '/x' });
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      proxy.close();
    }
  });
});
