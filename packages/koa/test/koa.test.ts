import { readFileSync } from 'node:fs';
import {
  connect as connectHttp2,
  createSecureServer as createSecureHttp2Server,
  constants as http2Constants,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { gatewayErrors, gatewayProxy, isGatewayError, maintenance } from '@gateway-errors/koa';
import { certificates, echoUpstream, refusingUpstream, testCA, type Upstream } from '@gateway-errors/testing';
import Koa3 from 'koa';
import mount from 'koa-mount';
import Koa2 from 'koa2';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

// What only Koa has: its own onerror, the app's `error` event, ctx.throw, sub-apps under koa-mount.
// The behaviour both frameworks share is proven by the scenario matrix in the repository's test/ directory.

const versions = [
  ['Koa 3', Koa3],
  ['Koa 2', Koa2 as typeof Koa3],
] as const;

const servers = testServers();
let upstream: Upstream | undefined;
const listen = (app: Koa3): Promise<string> => servers.serve(app.callback());

const cors = { 'Access-Control-Allow-Origin': 'https://app.example', 'X-Frame-Options': 'DENY' };

describe('@gateway-errors/koa', () => {
  it('imports nothing from Koa at run time: its middleware is typed on node:http', () => {
    const source = readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)];
    expect(imports.length).toBeGreaterThan(0);
    for (const [, typeOnly, from] of imports) {
      if (from === 'koa' || from?.startsWith('koa/')) expect(typeOnly).toBeDefined();
    }
  });

  it('validates options at construction, naming the fix', () => {
    expect(() => gatewayProxy({ target: 'not a url' })).toThrow(/absolute http\(s\) URL/);
    expect(() => gatewayErrors({ emitErrors: false } as never)).toThrow(/emitErrors/);
    expect(() => gatewayErrors({ emitError: 'yes' } as never)).toThrow(/emitError must be true or false/);
    expect(() => maintenance({ allow: { ips: ['10.0.0.0/8'] } })).toThrow(/no ranges/);
  });
});

describe.each(versions)('%s', (_name, Koa) => {
  it("names its middleware: stack traces and Koa's debug output (DEBUG=koa:application) show gatewayErrors, maintenance and gatewayProxy", async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const stacks: string[] = [];
    const here = () => stacks.push(new Error('here').stack ?? '');
    const app = new Koa();
    app.use(gatewayErrors({ render: () => void here(), emitError: false }));
    app.use(maintenance({ enabled: () => here() < 0 }));
    app.use(gatewayProxy({ target: upstream.url, retry: false }));
    expect(app.middleware.map((middleware) => middleware.name)).toEqual([
      'gatewayErrors',
      'maintenance',
      'gatewayProxy',
    ]);
    expect((await request(await listen(app)).get('/x')).status).toBe(502);
    expect(stacks[0]).toMatch(/\n\s+at maintenance \(/);
    expect(stacks[1]).toMatch(/\n\s+at gatewayErrors \(/);
  });

  it("ctx.throw(503, { headers: { 'Retry-After': '30' } }): 503 with Retry-After: 30", async () => {
    const app = new Koa();
    app.silent = true;
    app.use(gatewayErrors());
    app.use((ctx) => ctx.throw(503, { headers: { 'Retry-After': '30' } }));
    const res = await request(await listen(app))
      .get('/')
      .set('Accept', 'application/json');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(res.headers['retry-after']).toBe('30');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['proxy-status']).toBeUndefined();
    expect(res.body).toMatchObject({ status: 503, title: 'Service Unavailable', retryAfter: 30 });
  });

  it('ctx.throw(502): 502 with the Retry-After hint', async () => {
    const app = new Koa();
    app.silent = true;
    app.use(gatewayErrors());
    app.use((ctx) => ctx.throw(502, 'users service at 10.1.2.3 said no'));
    const res = await request(await listen(app)).get('/');
    expect(res.status).toBe(502);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.text.startsWith('502 Bad Gateway\n\n')).toBe(true);
    expect(res.text).not.toContain('10.1.2.3');
  });

  it("keeps headers set earlier, where Koa's own onerror wipes them", async () => {
    const build = (withErrors: boolean) => {
      const app = new Koa();
      app.silent = true;
      if (withErrors) app.use(gatewayErrors());
      app.use(async (ctx, next) => {
        ctx.set(cors);
        await next();
      });
      app.use((ctx) => ctx.throw(503, { headers: { 'Retry-After': '30' } }));
      return app;
    };
    const bare = await request(await listen(build(false))).get('/');
    expect(bare.status).toBe(503);
    expect(bare.headers['access-control-allow-origin']).toBeUndefined(); // Koa's onerror: the reason we exist

    const res = await request(await listen(build(true))).get('/');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.text.startsWith('503 Service Unavailable\n\n')).toBe(true);
  });

  it("emits the app's error event for a gateway failure it answers, with the context", async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = new Koa();
    const events: Array<[unknown, unknown]> = [];
    app.on('error', (error, ctx) => events.push([error, ctx]));
    app.use(gatewayErrors());
    app.use(gatewayProxy({ target: upstream.url }));
    const res = await request(await listen(app)).get('/x');
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(events).toHaveLength(1);
    const [error, ctx] = events[0] ?? [];
    expect(isGatewayError(error)).toBe(true);
    expect(error).toMatchObject({ status: 502, code: 'ERR_BAD_GATEWAY', expose: false });
    expect(error).toHaveProperty('failure.type', 'connection_refused');
    expect(ctx).toHaveProperty('path', '/x');
  });

  it('emits nothing with emitError: false', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = new Koa();
    const events: unknown[] = [];
    app.on('error', (error) => events.push(error));
    app.use(gatewayErrors({ emitError: false }));
    app.use(gatewayProxy({ target: upstream.url }));
    const res = await request(await listen(app)).get('/x');
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(events).toEqual([]);
  });

  it("rethrows other errors unchanged and emits nothing itself: Koa's onerror reports them once", async () => {
    const boom = new Error('boom');
    const app = new Koa();
    const events: unknown[] = [];
    app.on('error', (error) => events.push(error));
    app.use(gatewayErrors());
    app.use(() => {
      throw boom;
    });
    const res = await request(await listen(app)).get('/');
    expect(res.status).toBe(500);
    expect(res.text).toBe('Internal Server Error');
    expect(events).toEqual([boom]);
    expect(events[0]).toBe(boom);
  });

  it('finds gatewayErrors() of the parent app from a sub-app under koa-mount', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const sub = new Koa();
    sub.use(gatewayProxy({ target: upstream.url }));
    const app = new Koa();
    app.silent = true;
    app.use(gatewayErrors({ proxyName: 'edge', emitError: false }));
    app.use(mount('/api', sub));
    const res = await request(await listen(app)).get('/api/x');
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('edge; error=connection_refused');
  });

  it('maintenance() in a sub-app under koa-mount matches allowed paths against the full path, as under Express', async () => {
    const sub = new Koa();
    sub.use(maintenance({ enabled: true, allow: { paths: ['/api/health'] } }));
    sub.use((ctx) => {
      ctx.body = 'up';
    });
    const app = new Koa();
    app.silent = true;
    app.use(mount('/api', sub));
    const url = await listen(app);
    expect((await request(url).get('/api/health')).status).toBe(200);
    expect((await request(url).get('/api/other')).status).toBe(503);
  });

  it('gatewayProxy() answers with the defaults when gatewayErrors() is mounted below it, not above', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = new Koa();
    app.silent = true;
    app.use(gatewayProxy({ target: upstream.url }));
    app.use(gatewayErrors({ proxyName: 'edge' }));
    const res = await request(await listen(app)).get('/x');
    expect(res.status).toBe(502);
    expect(res.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
  });
});

describe('Koa 3 on HTTP/2 with allowHTTP1', () => {
  it('the proxy sends browsers back to HTTP/1.1 (HTTP_1_1_REQUIRED) and serves them there', async () => {
    upstream = await servers.stopAfter(echoUpstream());
    const app = new Koa3();
    // Koa's on-finished hears the reset stream's error and reports it once through the app's error event.
    const reported: Array<{ code?: string }> = [];
    app.on('error', (error: { code?: string }) => reported.push(error));
    app.use(gatewayErrors());
    app.use(gatewayProxy({ target: upstream.url }));
    const secure = createSecureHttp2Server({ ...certificates.valid, allowHTTP1: true }, app.callback());
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    const { port } = secure.address() as { port: number };
    const client = connectHttp2(`https://localhost:${port}`, { ca: testCA });
    try {
      const reset = await new Promise<number>((resolve, reject) => {
        const stream = client.request({ ':path': '/h2' });
        stream.on('response', () => reject(new Error('an HTTP/2 response was sent')));
        stream.on('close', () => resolve(stream.rstCode ?? -1));
        stream.on('error', () => {});
        stream.resume();
      });
      expect(reset).toBe(http2Constants.NGHTTP2_HTTP_1_1_REQUIRED);
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const again = httpsRequest({ host: '127.0.0.1', servername: 'localhost', port, path: '/h1', ca: testCA });
        again.on('response', (response) => {
          response.resume();
          resolve(response.statusCode);
        });
        again.on('error', reject);
        again.end();
      });
      expect(status).toBe(200);
      expect(upstream.requests).toBe(1);
      expect(reported.map((error) => error.code)).toEqual(['ERR_HTTP2_STREAM_ERROR']);
    } finally {
      client.close();
      await new Promise<void>((resolve) => secure.close(() => resolve()));
    }
  });
});
