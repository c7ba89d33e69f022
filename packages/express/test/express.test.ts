import { readFileSync } from 'node:fs';
import { gatewayErrors, gatewayProxy, maintenance, ServiceUnavailableError } from '@gateway-errors/express';
import { refusingUpstream, type Upstream } from '@gateway-errors/testing';
import express5 from 'express';
import express4 from 'express4';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

// What only Express has: error handlers told apart by arity, sub-apps and Routers, two major versions.
// The behaviour both frameworks share is proven by the scenario matrix in the repository's test/ directory.

const versions = [
  ['Express 5', express5, '/api/{*rest}'],
  ['Express 4', express4 as typeof express5, '/api/*'],
] as const;

const servers = testServers();
let upstream: Upstream | undefined;
const listen = (app: express5.Express): Promise<string> => servers.serve(app);

/** The Proxy-Status of a refused request: `edge` when gatewayErrors({ proxyName: 'edge' }) answered it. */
async function proxyStatusOf(url: string, path: string): Promise<string | undefined> {
  const res = await request(url).get(path).set('Accept', 'application/json');
  expect(res.status).toBe(502);
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(res.body).toMatchObject({ status: 502, errorType: 'connection_refused', retryAfter: 5 });
  return res.headers['proxy-status'];
}

const viaErrors = 'edge; error=connection_refused';
const viaDefaults = 'gateway-errors; error=connection_refused';

describe('@gateway-errors/express', () => {
  it('gatewayErrors() is an error handler: four parameters, since Express tells them apart by arity', () => {
    expect(gatewayErrors().length).toBe(4);
    expect(gatewayProxy({ target: 'http://127.0.0.1:1' }).length).toBe(3);
  });

  it('exposes the proxy for events and shutdown', () => {
    const middleware = gatewayProxy({ target: 'http://127.0.0.1:1' });
    expect(typeof middleware.proxy.forward).toBe('function');
    expect(typeof middleware.proxy.on).toBe('function');
    middleware.proxy.close();
  });

  it('validates options at construction, naming the fix', () => {
    expect(() => gatewayProxy({ target: 'ftp://example.com' })).toThrow(/http: or https:/);
    expect(() => gatewayProxy({ target: 'http://127.0.0.1:1', timeout: 5 } as never)).toThrow(/timeout/);
    expect(() => gatewayErrors({ template: './views' } as never)).toThrow(/template/);
    expect(() => maintenance({ until: 'next tuesday' })).toThrow(/until must be a Date/);
  });

  it('imports nothing from Express at run time: its handlers are typed on node:http', () => {
    const source = readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)];
    expect(imports.length).toBeGreaterThan(0);
    for (const [, typeOnly, from] of imports) {
      if (from === 'express' || from?.startsWith('express/')) expect(typeOnly).toBeDefined();
    }
    expect(source).not.toMatch(/require\(['"]express/);
  });
});

describe.each(versions)('%s: named middleware', (_name, express) => {
  it('shows gatewayErrors, gatewayProxy and maintenance in the router and in stack traces', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const stacks: string[] = [];
    const app = express();
    const here = () => stacks.push(new Error('here').stack ?? '');
    app.use(maintenance({ enabled: () => here() < 0 }));
    app.use('/api', gatewayProxy({ target: upstream.url, retry: false }));
    app.get('/down', (_req, _res, next) => next(new ServiceUnavailableError()));
    app.use(gatewayErrors({ render: () => void here() }));
    // Express 4 keeps its router in app._router, Express 5 in app.router: what DEBUG=express:* prints.
    const router = (app as unknown as { _router?: { stack: Array<{ name: string }> } })._router ?? app.router;
    expect(router.stack.map((layer) => layer.name)).toEqual(
      expect.arrayContaining(['maintenance', 'gatewayProxy', 'gatewayErrors']),
    );
    const url = await listen(app);
    expect((await request(url).get('/api/x')).status).toBe(502);
    expect((await request(url).get('/down')).status).toBe(503);
    expect(stacks[0]).toMatch(/\n\s+at maintenance \(/);
    expect(stacks.at(-1)).toMatch(/\n\s+at gatewayErrors \(/);
  });
});

describe.each(versions)('%s: gatewayProxy() finds a mounted gatewayErrors()', (_name, express, wildcard) => {
  it('on the same app, after the proxy', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = express();
    app.use('/api', gatewayProxy({ target: upstream.url }));
    app.use(gatewayErrors({ proxyName: 'edge' }));
    expect(await proxyStatusOf(await listen(app), '/api/x')).toBe(viaErrors);
  });

  it('on the parent app, when the proxy is in a sub-app', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const sub = express();
    sub.use('/api', gatewayProxy({ target: upstream.url }));
    const app = express();
    app.use('/v1', sub);
    app.use(gatewayErrors({ proxyName: 'edge' }));
    expect(await proxyStatusOf(await listen(app), '/v1/api/x')).toBe(viaErrors);
  });

  it('in the sub-app itself', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const sub = express();
    sub.use('/api', gatewayProxy({ target: upstream.url }));
    sub.use(gatewayErrors({ proxyName: 'edge' }));
    const app = express();
    app.use('/v1', sub);
    expect(await proxyStatusOf(await listen(app), '/v1/api/x')).toBe(viaErrors);
  });

  it('on the app, when the proxy is in a Router', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const router = express.Router();
    router.use('/api', gatewayProxy({ target: upstream.url }));
    const app = express();
    app.use('/v1', router);
    app.use(gatewayErrors({ proxyName: 'edge' }));
    expect(await proxyStatusOf(await listen(app), '/v1/api/x')).toBe(viaErrors);
  });

  it('inside the Router', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const router = express.Router();
    router.use('/api', gatewayProxy({ target: upstream.url }));
    router.use(gatewayErrors({ proxyName: 'edge' }));
    const app = express();
    app.use('/v1', router);
    expect(await proxyStatusOf(await listen(app), '/v1/api/x')).toBe(viaErrors);
  });

  it('after the proxy on a route', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = express();
    app.all(wildcard, gatewayProxy({ target: upstream.url }));
    app.use(gatewayErrors({ proxyName: 'edge' }));
    expect(await proxyStatusOf(await listen(app), '/api/x')).toBe(viaErrors);
  });

  it('mounted before the proxy it never sees the error: the proxy answers with the defaults instead', async () => {
    // Express runs error handlers in order, so without this check the error would skip it and reach Express's own
    // handler: the right status, but a bare page (with the stack outside production).
    upstream = await servers.stopAfter(refusingUpstream());
    const app = express();
    app.use(gatewayErrors({ proxyName: 'edge' }));
    app.use('/api', gatewayProxy({ target: upstream.url }));
    expect(await proxyStatusOf(await listen(app), '/api/x')).toBe(viaDefaults);
  });

  it('one before and one after the proxy: the one after answers', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = express();
    app.use(gatewayErrors({ proxyName: 'early' }));
    app.use('/api', gatewayProxy({ target: upstream.url }));
    app.use(gatewayErrors({ proxyName: 'edge' }));
    expect(await proxyStatusOf(await listen(app), '/api/x')).toBe(viaErrors);
  });

  it('an error handler between the proxy and gatewayErrors() still sees the failure first', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const seen: unknown[] = [];
    const app = express();
    app.use('/api', gatewayProxy({ target: upstream.url }));
    app.use((error: unknown, _req: express5.Request, _res: express5.Response, next: express5.NextFunction) => {
      seen.push(error);
      next(error);
    });
    app.use(gatewayErrors({ proxyName: 'edge' }));
    expect(await proxyStatusOf(await listen(app), '/api/x')).toBe(viaErrors);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ status: 502, failure: { type: 'connection_refused' } });
  });

  it('none mounted: the proxy answers with the defaults, and the next error handler is not called', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const seen: unknown[] = [];
    const app = express();
    app.use('/api', gatewayProxy({ target: upstream.url }));
    app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
      seen.push(error);
      res.status(500).end();
    });
    expect(await proxyStatusOf(await listen(app), '/api/x')).toBe(viaDefaults);
    expect(seen).toEqual([]);
  });
});

describe.each(versions)('%s: the nonce function gets Express’s response', (_name, express) => {
  it('reads res.locals (typed: no cast in the app), for the proxy’s failures and a route’s', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const app = express();
    app.use((_req, res, next) => {
      res.locals.cspNonce = 'bm9uY2UtZnJvbS1sb2NhbHM=';
      next();
    });
    app.use('/api', gatewayProxy({ target: upstream.url }));
    app.get('/route', () => {
      throw new ServiceUnavailableError({ retryAfter: 7 });
    });
    app.use(gatewayErrors({ nonce: (_req, res) => res.locals.cspNonce }));
    const url = await listen(app);
    for (const [path, status] of [
      ['/api/x', 502],
      ['/route', 503],
    ] as const) {
      const res = await request(url).get(path).set('Accept', 'text/html');
      expect(res.status).toBe(status);
      expect(res.text).toContain('<style nonce="bm9uY2UtZnJvbS1sb2NhbHM=">');
    }
  });
});
