import { connect } from 'node:net';
import {
  dieMidBodyUpstream,
  echoUpstream,
  garbageUpstream,
  hangingUpstream,
  refusingUpstream,
  resetAfterRequest,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { adapters, type RunningApp } from './adapters.js';

const html = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe.each(adapters)('$name: proxy failures', (adapter) => {
  let upstream: Upstream | undefined;
  let app: RunningApp | undefined;
  afterEach(async () => {
    await app?.close();
    await upstream?.close();
    app = upstream = undefined;
  });

  async function gateway(make: () => Promise<Upstream>, proxy: object = {}, errors?: object | false) {
    upstream = await make();
    app = await adapter.start({ proxy: { target: upstream.url, ...proxy }, errors: errors as undefined });
    return app;
  }

  it('passes a healthy answer through', async () => {
    const { url } = await gateway(echoUpstream);
    const res = await request(url).get('/api/things?x=1').set('X-Forwarded-For', '6.6.6.6');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'GET', url: '/things?x=1' });
    expect(res.body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(res.body.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a refused connection with 502 connection_refused, as an HTML page', async () => {
    const { url } = await gateway(refusingUpstream);
    const res = await request(url).get('/api/x').set('Accept', html);
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(res.headers['x-robots-tag']).toBe('noindex');
    expect(res.headers.vary).toContain('Accept');
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.text));
    expect(res.text).toContain('<meta name="robots" content="noindex');
    expect(res.text).not.toContain(String(upstream?.port));
  });

  it('answers problem+json to an API client', async () => {
    const { url } = await gateway(refusingUpstream);
    const res = await request(url).get('/api/x').set('Accept', 'application/json');
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(JSON.parse(res.text)).toMatchObject({
      status: 502,
      title: 'Bad Gateway',
      errorType: 'connection_refused',
      retryAfter: 5,
    });
  });

  it('answers a hanging upstream with 504 http_response_timeout after the response timeout', async () => {
    const { url } = await gateway(hangingUpstream, { timeouts: { response: 200 } });
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(504);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=http_response_timeout');
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('answers garbage with 502 http_protocol_error', async () => {
    const { url } = await gateway(garbageUpstream);
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=http_protocol_error');
  });

  it('answers a reset after the request with 502 connection_terminated, and does not retry a POST', async () => {
    const { url } = await gateway(resetAfterRequest);
    const res = await request(url).post('/api/x').send({ a: 1 });
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=connection_terminated');
    expect(upstream?.requests).toBe(1);
  });

  it('passes an upstream 503 through with its validated Retry-After', async () => {
    const { url } = await gateway(() => statusUpstream({ status: 503, retryAfter: '120' }));
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(503);
    expect(res.text).toBe('upstream says 503\n');
    expect(res.headers['retry-after']).toBe('120');
  });

  it('intercepts an upstream 503 when asked, keeping its Retry-After', async () => {
    const { url } = await gateway(() => statusUpstream({ status: 503, retryAfter: '120' }), { intercept: true });
    const res = await request(url).get('/api/x').set('Accept', 'application/json');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('120');
    expect(res.headers['proxy-status']).toBe('gateway-errors; received-status=503');
  });

  it('answers HEAD with the headers and no body', async () => {
    const { url } = await gateway(refusingUpstream);
    const res = await request(url).head('/api/x').set('Accept', html);
    expect(res.status).toBe(502);
    expect(Number(res.headers['content-length'])).toBeGreaterThan(1000);
    expect(res.text).toBeUndefined();
  });

  it('answers with the defaults when no gatewayErrors() is mounted', async () => {
    const { url } = await gateway(refusingUpstream, {}, false);
    const res = await request(url).get('/api/x').set('Accept', 'application/json');
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  });

  it('aborts the client connection when the upstream dies mid-body, never ending it cleanly', async () => {
    const { url } = await gateway(() => dieMidBodyUpstream({ sent: 'hello' }));
    const port = new URL(url).port;
    const received = await new Promise<{ bytes: string; ending: string }>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET /api/x HTTP/1.1\r\nHost: gw\r\n\r\n'));
      socket.on('data', (chunk) => chunks.push(chunk));
      const done = (ending: string) => resolve({ bytes: Buffer.concat(chunks).toString('latin1'), ending });
      socket.on('end', () => done('fin'));
      socket.on('error', () => done('reset'));
      socket.on('close', () => done('close'));
    });
    expect(received.bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(received.bytes).toContain('content-length: 1000');
    expect(received.bytes.endsWith('\r\n\r\nhello')).toBe(true);
  });
});
