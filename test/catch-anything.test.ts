import { BadGatewayError, GatewayTimeoutError, ServiceUnavailableError } from '@gateway-errors/core';
import {
  garbageUpstream,
  hangingUpstream,
  refusingUpstream,
  resetAfterRequest,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import axios from 'axios';
import got from 'got';
import httpProxy from 'http-proxy';
import { createProxyServer as createProxy3 } from 'http-proxy-3';
import request from 'supertest';
import { request as undiciRequest } from 'undici';
import { describe, expect, it } from 'vitest';
import { type AppSpec, adapters, appErrorHandlerBody } from './adapters.js';
import { type ExpectedError, expectError, harness, jsonAccept, rawRequest } from './harness.js';

// gatewayErrors() answers a gateway failure from any source: each case makes a real failing call inside a route.
describe.each(adapters)('$name: gatewayErrors() catches anything', (adapter) => {
  const h = harness(adapter);

  /** Starts `make`, an app whose `/route` runs `call(upstream)`, and asks `/route` for problem+json. */
  async function callFailing(
    make: () => Promise<Upstream>,
    call: (upstream: Upstream) => Promise<unknown>,
    spec: Omit<AppSpec, 'route'> = {},
  ) {
    const upstream = await h.upstream(make);
    const app = await h.app({ ...spec, route: () => call(upstream) });
    const res = await request(app.url).get('/route').set('Accept', jsonAccept);
    return { res, app, upstream };
  }

  const refused: ExpectedError = { status: 502, format: 'problem', type: 'connection_refused' };
  const timedOut: ExpectedError = { status: 504, format: 'problem', type: 'http_response_timeout' };
  const upstream503: ExpectedError = { status: 503, format: 'problem', receivedStatus: 503, retryAfter: 120 };
  const unavailable = () => statusUpstream({ status: 503, retryAfter: '120' });

  describe("Node's fetch", () => {
    it('to a refused port: 502 connection_refused', async () => {
      const { res, app } = await callFailing(refusingUpstream, (up) => fetch(up.url));
      expectError(res, refused);
      expect(app.passedOn).toEqual([]);
    });

    it('to a hanging upstream with AbortSignal.timeout(): 504 http_response_timeout', async () => {
      const { res } = await callFailing(hangingUpstream, (up) => fetch(up.url, { signal: AbortSignal.timeout(150) }));
      expectError(res, timedOut);
    });

    it('to a reset: 502 connection_terminated', async () => {
      const { res } = await callFailing(resetAfterRequest, (up) => fetch(up.url));
      expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
    });
  });

  describe('undici', () => {
    it('request() to a refused port: 502 connection_refused', async () => {
      const { res } = await callFailing(refusingUpstream, (up) => undiciRequest(up.url));
      expectError(res, refused);
    });

    it('request() with headersTimeout to a hanging upstream: 504 http_response_timeout', async () => {
      const { res } = await callFailing(hangingUpstream, (up) => undiciRequest(up.url, { headersTimeout: 150 }));
      expectError(res, timedOut);
    });
  });

  describe('axios', () => {
    it('to a refused port: 502 connection_refused', async () => {
      const { res } = await callFailing(refusingUpstream, (up) => axios.get(up.url));
      expectError(res, refused);
    });

    it('with a timeout, to a hanging upstream: 504 http_response_timeout', async () => {
      const { res } = await callFailing(hangingUpstream, (up) => axios.get(up.url, { timeout: 150 }));
      expectError(res, timedOut);
    });

    it("an upstream's 503 with Retry-After: 503 with its Retry-After", async () => {
      const { res } = await callFailing(unavailable, (up) => axios.get(up.url));
      expectError(res, { ...upstream503, secrets: ['upstream says'] });
    });
  });

  describe('got', () => {
    it('to a refused port: 502 connection_refused', async () => {
      const { res } = await callFailing(refusingUpstream, (up) => got(up.url, { retry: { limit: 0 } }));
      expectError(res, refused);
    });

    it('with a request timeout, to a hanging upstream: 504 http_response_timeout', async () => {
      const { res } = await callFailing(hangingUpstream, (up) =>
        got(up.url, { retry: { limit: 0 }, timeout: { request: 150 } }),
      );
      expectError(res, timedOut);
    });

    it("an upstream's 503 with Retry-After: 503 with its Retry-After", async () => {
      const { res } = await callFailing(unavailable, (up) => got(up.url, { retry: { limit: 0 } }));
      expectError(res, { ...upstream503, secrets: ['upstream says'] });
    });
  });

  describe("the app's own http-proxy instance, its error callback wired to the framework", () => {
    const engines = [
      ['http-proxy', () => httpProxy.createProxyServer({})],
      ['http-proxy-3', () => createProxy3({})],
    ] as const;

    it.each(engines)('%s to a refused port: 502 connection_refused', async (_name, create) => {
      const upstream = await h.upstream(refusingUpstream);
      const { url } = await h.app({ ownProxy: { server: create(), target: upstream.url } });
      const res = await request(url).get('/own/x').set('Accept', jsonAccept);
      expectError(res, refused);
    });

    it.each(engines)('%s to an upstream that answers garbage: 502 http_protocol_error', async (_name, create) => {
      const upstream = await h.upstream(garbageUpstream);
      const { url } = await h.app({ ownProxy: { server: create(), target: upstream.url } });
      const res = await request(url).get('/own/x').set('Accept', jsonAccept);
      expectError(res, { status: 502, format: 'problem', type: 'http_protocol_error' });
    });
  });

  describe('our error classes, thrown by the app', () => {
    it('new ServiceUnavailableError({ retryAfter: 120 }): 503 with Retry-After: 120', async () => {
      const { url } = await h.app({
        route: async () => {
          throw new ServiceUnavailableError({ retryAfter: 120 });
        },
      });
      const res = await request(url).get('/route').set('Accept', jsonAccept);
      expectError(res, { status: 503, format: 'problem', retryAfter: 120 });
    });

    it("new BadGatewayError({ type: 'connection_refused' }): 502 with Proxy-Status", async () => {
      const { url } = await h.app({
        route: async () => {
          throw new BadGatewayError({ type: 'connection_refused', message: 'users-db at 10.0.0.7 refused' });
        },
      });
      const res = await request(url).get('/route').set('Accept', jsonAccept);
      expectError(res, { ...refused, secrets: ['10.0.0.7', 'users-db'] });
    });

    it('new GatewayTimeoutError(): 504 with the hint', async () => {
      const { url } = await h.app({
        route: async () => {
          throw new GatewayTimeoutError();
        },
      });
      const res = await request(url).get('/route');
      expectError(res, { status: 504, format: 'text' });
    });

    it('an http-errors shaped error with status 503 and its own headers', async () => {
      const { url } = await h.app({
        route: async () => {
          throw Object.assign(new Error('down for a bit'), { status: 503, headers: { 'Retry-After': '30' } });
        },
      });
      const res = await request(url).get('/route').set('Accept', jsonAccept);
      expectError(res, { status: 503, format: 'problem', retryAfter: 30, secrets: ['down for a bit'] });
    });
  });

  describe('errors that are not gateway failures', () => {
    const onward = adapter.framework === 'express' ? "to Express's next error handler" : 'rethrown to Koa';

    it(`go on unchanged, ${onward}: the very same error object`, async () => {
      const boom = new Error('boom');
      const { url, passedOn } = await h.app({
        route: async () => {
          throw boom;
        },
      });
      const res = await request(url).get('/route').set('Accept', jsonAccept);
      expect(res.status).toBe(500);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.headers['proxy-status']).toBeUndefined();
      expect(res.text).toBe(appErrorHandlerBody);
      expect(passedOn).toHaveLength(1);
      expect(passedOn[0]).toBe(boom);
    });

    it('a 4xx http-errors shaped error goes on too, even with allErrors', async () => {
      const notFound = Object.assign(new Error('no such user'), { status: 404, expose: true });
      const { url, passedOn } = await h.app({
        errors: { allErrors: true },
        route: async () => {
          throw notFound;
        },
      });
      const res = await request(url).get('/route');
      expect(res.status).toBe(500);
      expect(res.text).toBe(appErrorHandlerBody);
      expect(passedOn).toEqual([notFound]);
      expect(passedOn[0]).toBe(notFound);
    });

    it('with allErrors, are answered with a 500 page', async () => {
      const { url, passedOn } = await h.app({
        errors: { allErrors: true },
        route: async () => {
          throw new TypeError("Cannot read properties of undefined (reading 'secret')");
        },
      });
      const res = await request(url).get('/route').set('Accept', jsonAccept);
      expectError(res, { status: 500, format: 'problem', retryAfter: null, secrets: ['secret', 'TypeError'] });
      expect(passedOn).toEqual([]);
    });

    it('with allErrors, an error with its own 5xx status keeps it', async () => {
      const { url } = await h.app({
        errors: { allErrors: true },
        route: async () => {
          throw Object.assign(new Error('not here'), { status: 501 });
        },
      });
      const res = await request(url).get('/route');
      expectError(res, { status: 501, format: 'text', retryAfter: null });
    });
  });

  it('a gateway failure after the response head went out destroys the connection, never writing to it again', async () => {
    const upstream = await h.upstream(refusingUpstream);
    const { port, passedOn } = await h.app({
      route: async (res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100' });
        res.write('partial');
        return fetch(upstream.url);
      },
    });
    const received = await rawRequest(port, '/route');
    expect(received.ending).not.toBe('open');
    expect(received.bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(received.bytes.endsWith('\r\n\r\npartial')).toBe(true);
    expect(passedOn).toEqual([]);
  });
});
