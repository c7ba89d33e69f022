import { connect } from 'node:net';
import type { ProxyAbortEvent, ProxyFailureEvent } from '@gateway-errors/core';
import {
  badHeaderUpstream,
  dieMidBodyUpstream,
  echoUpstream,
  flakyUpstream,
  garbageUpstream,
  hangingUpstream,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  slowHeadUpstream,
  stallMidBodyUpstream,
  statusUpstream,
  testCA,
  tlsUpstream,
} from '@gateway-errors/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters } from './adapters.js';
import { expectError, harness, htmlAccept, jsonAccept, rawRequest } from './harness.js';

// Every failure class the testing kit can produce, through gatewayProxy() with gatewayErrors() mounted.
describe.each(adapters)('$name: proxy failures', (adapter) => {
  const h = harness(adapter);

  it('passes a healthy answer through, forwarding the path below the mount point', async () => {
    const { url } = await h.gateway(echoUpstream);
    const res = await request(url).get('/api/things?x=1').set('X-Forwarded-For', '6.6.6.6');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.body).toMatchObject({ method: 'GET', url: '/things?x=1', body: '' });
    expect(res.body.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(res.body.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refused connection: 502 connection_refused', async () => {
    const { url, upstream } = await h.gateway(refusingUpstream);
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { status: 502, format: 'html', type: 'connection_refused', secrets: [`:${upstream.port}`] });
  });

  it('reset as soon as the connection is accepted: 502 connection_terminated', async () => {
    const { url } = await h.gateway(resetOnAccept);
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
  });

  it('reset after reading the request: 502 connection_terminated, and a POST is not retried', async () => {
    const { url, upstream } = await h.gateway(resetAfterRequest);
    const res = await request(url).post('/api/x').set('Accept', jsonAccept).send({ a: 1 });
    expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
    expect(upstream.requests).toBe(1);
  });

  it('no response head within the response timeout: 504 http_response_timeout', async () => {
    const { url, upstream } = await h.gateway(hangingUpstream, { timeouts: { response: 150 }, retry: false });
    const res = await request(url).get('/api/x');
    expectError(res, { status: 504, format: 'text', type: 'http_response_timeout' });
    expect(upstream.requests).toBe(1);
  });

  it('a slow head within the response timeout is passed through', async () => {
    const { url } = await h.gateway(() => slowHeadUpstream({ delay: 100 }), { timeouts: { response: 3000 } });
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['proxy-status']).toBeUndefined();
    expect(res.text).toBe('slow ok\n');
  });

  it('a slow head beyond the response timeout: 504 http_response_timeout', async () => {
    const { url } = await h.gateway(() => slowHeadUpstream({ delay: 2000 }), {
      timeouts: { response: 150 },
      retry: false,
    });
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { status: 504, format: 'problem', type: 'http_response_timeout' });
  });

  it('bytes that are not HTTP: 502 http_protocol_error', async () => {
    const { url } = await h.gateway(garbageUpstream);
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { status: 502, format: 'html', type: 'http_protocol_error', secrets: ['SSH-2.0'] });
  });

  it('a control character in a response header: 502 http_protocol_error', async () => {
    const { url } = await h.gateway(badHeaderUpstream);
    const res = await request(url).get('/api/x');
    expectError(res, { status: 502, format: 'text', type: 'http_protocol_error' });
  });

  it('an oversized response head: 502 http_response_header_section_size', async () => {
    const { url } = await h.gateway(oversizedHeadUpstream);
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { status: 502, format: 'problem', type: 'http_response_header_section_size' });
    expect(res.headers['x-filler']).toBeUndefined();
  });

  it('a self-signed upstream certificate: 502 tls_certificate_error', async () => {
    const { url, upstream } = await h.gateway(tlsUpstream);
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { status: 502, format: 'problem', type: 'tls_certificate_error' });
    expect(upstream.requests).toBe(0);
  });

  it.each([
    ['expired', 'tls_certificate_error'],
    ['wrongHost', 'tls_certificate_error'],
  ] as const)('a %s certificate from a trusted CA: 502 %s', async (certificate, type) => {
    const { url } = await h.gateway(() => tlsUpstream({ certificate }), { tls: { ca: testCA } });
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { status: 502, format: 'problem', type });
  });

  it('a valid certificate from a trusted private CA is proxied', async () => {
    const { url } = await h.gateway(() => tlsUpstream({ certificate: 'valid' }), { tls: { ca: testCA } });
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok\n');
  });

  it('passes a valid upstream 503 through, with its validated Retry-After', async () => {
    const { url } = await h.gateway(() => statusUpstream({ status: 503, retryAfter: '120' }));
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(res.headers['retry-after']).toBe('120');
    expect(res.headers['proxy-status']).toBeUndefined();
    expect(res.headers['cache-control']).toBeUndefined();
    expect(res.text).toBe('upstream says 503\n');
  });

  it('drops an upstream Retry-After that is not valid, never copying it blindly', async () => {
    const { url } = await h.gateway(() => statusUpstream({ status: 503, retryAfter: 'soon, maybe' }));
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.text).toBe('upstream says 503\n');
  });

  it('intercepts an upstream 503 when asked: our page, its Retry-After, received-status', async () => {
    const { url } = await h.gateway(() => statusUpstream({ status: 503, retryAfter: '120' }), { intercept: true });
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { status: 503, format: 'html', receivedStatus: 503, retryAfter: 120, secrets: ['upstream says'] });
  });

  it('intercepts only the listed statuses', async () => {
    const { url } = await h.gateway(() => statusUpstream({ status: 500 }), { intercept: [502, 503] });
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(500);
    expect(res.text).toBe('upstream says 500\n');
  });

  it('a flaky upstream: a GET is retried once and answered', async () => {
    const { url, upstream, proxy } = await h.gateway(flakyUpstream);
    const events: ProxyFailureEvent[] = [];
    proxy?.on('failure', (event) => events.push(event));
    const res = await request(url).get('/api/x');
    expect(res.status).toBe(200);
    expect(res.text).toBe('ok\n');
    expect(upstream.requests).toBe(2);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ attempt: 1, willRetry: true, headSent: false, method: 'GET', path: '/x' });
    expect(events[0]?.failure.type).toBe('connection_terminated');
  });

  it('a flaky upstream: a POST is not retried once it may have reached the upstream', async () => {
    const { url, upstream, proxy } = await h.gateway(flakyUpstream);
    const events: ProxyFailureEvent[] = [];
    proxy?.on('failure', (event) => events.push(event));
    const res = await request(url).post('/api/x').set('Accept', jsonAccept).send('a=1');
    expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
    expect(upstream.requests).toBe(1);
    expect(events.map((event) => [event.attempt, event.willRetry])).toEqual([[1, false]]);
  });

  it('a client that goes away is an abort (499), never an upstream failure', async () => {
    const { port, proxy, upstream } = await h.gateway(hangingUpstream, { timeouts: { response: 5000 } });
    const failures: ProxyFailureEvent[] = [];
    proxy?.on('failure', (event) => failures.push(event));
    const aborted = new Promise<ProxyAbortEvent>((resolve) => proxy?.once('abort', resolve));
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /api/gone HTTP/1.1\r\nHost: gateway\r\n\r\n'));
    socket.on('error', () => {});
    while (upstream.requests === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    socket.destroy();
    expect(await aborted).toMatchObject({ status: 499, method: 'GET', path: '/gone', attempt: 1 });
    expect(failures).toEqual([]);
  });

  describe('after the response head went out', () => {
    it('dies mid-body (Content-Length): the client gets the truncated bytes, never a clean end', async () => {
      const { port, proxy } = await h.gateway(() => dieMidBodyUpstream({ sent: 'hello' }));
      const events: ProxyFailureEvent[] = [];
      proxy?.on('failure', (event) => events.push(event));
      const received = await rawRequest(port, '/api/x');
      expect(received.ending).not.toBe('open');
      expect(received.bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received.bytes.toLowerCase()).toContain('\r\ncontent-length: 1000\r\n');
      expect(received.bytes.endsWith('\r\n\r\nhello')).toBe(true);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ headSent: true, willRetry: false });
      expect(events[0]?.failure.type).toBe('http_response_incomplete');
    });

    it('dies mid-body (chunked): the last chunk never comes', async () => {
      const { port } = await h.gateway(() => dieMidBodyUpstream({ sent: 'hello', framing: 'chunked' }));
      const received = await rawRequest(port, '/api/x');
      expect(received.ending).not.toBe('open');
      expect(received.bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received.bytes.toLowerCase()).toContain('\r\ntransfer-encoding: chunked\r\n');
      expect(received.bytes.endsWith('\r\n\r\n5\r\nhello\r\n')).toBe(true);
    });

    it('stalls mid-body: the connection is aborted after the idle timeout', async () => {
      const { port, proxy } = await h.gateway(() => stallMidBodyUpstream({ sent: 'hello' }), {
        timeouts: { idle: 200 },
      });
      const events: ProxyFailureEvent[] = [];
      proxy?.on('failure', (event) => events.push(event));
      const received = await rawRequest(port, '/api/x');
      expect(received.ending).not.toBe('open');
      expect(received.bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(received.bytes.endsWith('\r\n\r\nhello')).toBe(true);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ headSent: true, willRetry: false });
      expect(events[0]?.failure.type).toBe('connection_read_timeout');
    });
  });
});
