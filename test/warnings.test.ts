/**
 * Mistakes in mounting that used to fail in silence (issue 18, item 2): a `gatewayErrors()` on the wrong side of a
 * proxy or a maintenance gate, last in Koa, or none at all. Failures are still answered (the default page, or the
 * framework's own 500 for a route's failing fetch()), and the process gets one warning per middleware at its first
 * request, before any failure, naming the fix; the README's own wiring gets none.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as expressAdapter from '@gateway-errors/express';
import * as koaAdapter from '@gateway-errors/koa';
import { echoUpstream, refusingUpstream, type Upstream } from '@gateway-errors/testing';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import mount from 'koa-mount';
import Koa2 from 'koa2';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { adapters } from './adapters.js';
import { expectError, htmlAccept, jsonAccept } from './harness.js';

/** What an app is made of, in the order it is mounted. */
type Part = 'errors' | 'proxy' | 'maintenance' | 'route';

const locals = { siteName: 'Acme' };

/**
 * An app of `parts` in their order, the way the README mounts each: `app.use(gatewayErrors({ locals }))`, the proxy at
 * `/api` (to `proxyTo`), `maintenance({ enabled: true })`, and a route at `/me` whose fetch() of `fetchFrom` fails.
 * Errors nothing of ours answers reach the framework's own handler (Express's finalhandler, Koa's onerror).
 */
function appOf(
  framework: string,
  parts: Part[],
  { proxyTo, fetchFrom }: { proxyTo: Upstream; fetchFrom: Upstream },
): (req: IncomingMessage, res: ServerResponse) => void {
  const fetchFails = async () => (await fetch(`${fetchFrom.url}/users/me`)).json();
  if (framework.startsWith('Express')) {
    const app = framework === 'Express 5' ? express5() : (express4() as unknown as ReturnType<typeof express5>);
    // Express's final handler prints each error's stack unless its env is 'test'.
    app.set('env', 'test');
    const { gatewayErrors, gatewayProxy, maintenance } = expressAdapter;
    for (const part of parts) {
      if (part === 'errors') app.use(gatewayErrors({ locals }));
      if (part === 'proxy') app.use('/api', gatewayProxy({ target: proxyTo.url, retry: false }));
      if (part === 'maintenance') app.use(maintenance({ enabled: true }));
      if (part === 'route') app.get('/me', (_req, res, next) => fetchFails().then((body) => res.json(body), next));
    }
    return app;
  }
  const app = framework === 'Koa 3' ? new Koa3() : (new Koa2() as unknown as Koa3);
  app.on('error', () => {});
  const { gatewayErrors, gatewayProxy, maintenance } = koaAdapter;
  for (const part of parts) {
    if (part === 'errors') app.use(gatewayErrors({ locals }));
    if (part === 'proxy') app.use(mount('/api', gatewayProxy({ target: proxyTo.url, retry: false })));
    if (part === 'maintenance') app.use(maintenance({ enabled: true }));
    if (part === 'route') {
      app.use(async (ctx, next) => {
        if (ctx.path === '/me') ctx.body = await fetchFails();
        else await next();
      });
    }
  }
  return app.callback();
}

describe.each(adapters)('$name: a gatewayErrors() that will not see a failure', (adapter) => {
  const servers: Server[] = [];
  const warnings: { code: string | undefined; message: string }[] = [];
  const onWarning = (warning: Error & { code?: string }) =>
    warnings.push({ code: warning.code, message: warning.message });
  let refusing: Upstream;
  let healthy: Upstream;

  beforeEach(async () => {
    warnings.length = 0;
    process.on('warning', onWarning);
    refusing = await refusingUpstream();
    healthy = await echoUpstream();
  });
  afterEach(async () => {
    process.off('warning', onWarning);
    await healthy.close();
    await refusing.close();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  /** An app of `parts` on a port: its proxy to the refusing upstream unless `proxyTo` says otherwise. */
  async function start(parts: Part[], proxyTo: Upstream = refusing): Promise<string> {
    const server = createServer(appOf(adapter.name, parts, { proxyTo, fetchFrom: refusing }));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The mounting warnings emitted so far (they are emitted on the next tick). */
  async function mountingWarnings(): Promise<string[]> {
    await new Promise((resolve) => setImmediate(resolve));
    return warnings.filter((warning) => warning.code === 'GATEWAY_ERRORS_MOUNTING').map((warning) => warning.message);
  }

  const express = adapter.framework === 'express';
  const misplaced: Part[] = express ? ['errors', 'proxy', 'route'] : ['proxy', 'route', 'errors'];
  const fix = express
    ? /Mount app\.use\(gatewayErrors\(\.\.\.\)\) after your routes and proxies, last\./
    : /Mount app\.use\(gatewayErrors\(\.\.\.\)\) first, before your routes and proxies\./;

  const link = / See https:\/\/\S+\/docs\/warnings\.md#gateway_errors_mounting$/;

  it(`${express ? 'before the proxy' : 'after the proxy'}: one warning at the first request, before any failure, naming the fix`, async () => {
    const url = await start(misplaced, healthy);
    const ok = await request(url).get('/api/users');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ method: 'GET', url: '/users' });
    const found = await mountingWarnings();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      express
        ? /^gateway-errors: a gatewayProxy\(\) is mounted after this app's gatewayErrors\(\), which never sees its failures: /
        : /^gateway-errors: this app's gatewayErrors\(\) is mounted below a gatewayProxy\(\), so it never sees its failures, /,
    );
    expect(found[0]).toMatch(fix);
    expect(found[0]).toMatch(link);
  });

  it(`${express ? 'before the proxy' : 'after the proxy'}: its failures get the default page, without the app's locals; still one warning`, async () => {
    const url = await start(misplaced);
    for (let i = 0; i < 3; i++) {
      const res = await request(url).get('/api/users').set('Accept', htmlAccept);
      expectError(res, { status: 502, format: 'html', type: 'connection_refused' });
      expect(res.text).not.toContain('Acme');
    }
    expect(await mountingWarnings()).toHaveLength(1);
  });

  it(`${express ? 'before the routes' : 'last'}: a route's failing fetch() gets the framework's own 500, and the warning named it`, async () => {
    const url = await start(misplaced, healthy);
    expect((await request(url).get('/api/users')).status).toBe(200);
    const res = await request(url).get('/me').set('Accept', htmlAccept);
    expect(res.status).toBe(500);
    expect(res.headers['proxy-status']).toBeUndefined();
    // Express's finalhandler shows the stack outside production; Koa's onerror says only "Internal Server Error".
    expect(res.text).toContain(express ? 'TypeError: fetch failed' : 'Internal Server Error');
    const found = await mountingWarnings();
    expect(found).toHaveLength(1);
    expect(found[0]).toContain("your routes' failing fetch(), axios or got calls");
    expect(found[0]).toContain(express ? "Express's own 500 page" : "Koa's bare 500 Internal Server Error");
  });

  it.runIf(!express)(
    'last, with no proxy: one warning at the first request that reaches it, naming the fix',
    async () => {
      const url = await start(['route', 'errors']);
      // Only a request no route answered reaches a gatewayErrors() mounted last: Koa's 404.
      for (let i = 0; i < 2; i++) expect((await request(url).get('/nothing-here')).status).toBe(404);
      const res = await request(url).get('/me').set('Accept', htmlAccept);
      expect(res.status).toBe(500);
      expect(res.text).toBe('Internal Server Error');
      const found = await mountingWarnings();
      expect(found).toHaveLength(1);
      expect(found[0]).toMatch(/^gateway-errors: this app's gatewayErrors\(\) is mounted last, so it wraps nothing: /);
      expect(found[0]).toContain(
        "your routes' failing fetch(), axios or got calls Koa's bare 500 Internal Server Error",
      );
      expect(found[0]).toMatch(fix);
      expect(found[0]).toMatch(link);
    },
  );

  it('left out: the default page for the proxy, and one warning saying to mount one', async () => {
    const url = await start(['proxy', 'route']);
    for (const accept of [htmlAccept, jsonAccept]) {
      const res = await request(url).get('/api/users').set('Accept', accept);
      expectError(res, { status: 502, format: accept === htmlAccept ? 'html' : 'problem', type: 'connection_refused' });
    }
    const found = await mountingWarnings();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      express
        ? /^gateway-errors: no gatewayErrors\(\) is mounted after this gatewayProxy\(\): .* Mount app\.use\(gatewayErrors\(\)\) after your routes and proxies, last: /
        : /^gateway-errors: no gatewayErrors\(\) is mounted above this gatewayProxy\(\): .* Mount app\.use\(gatewayErrors\(\)\) first, before your routes and proxies: /,
    );
    expect(found[0]).toContain("your routes' failing fetch()");
    expect(found[0]).toMatch(link);
  });

  it('once per middleware: two misplaced proxies, two warnings', async () => {
    const url = await start(express ? ['errors', 'proxy', 'proxy'] : ['proxy', 'proxy', 'errors']);
    // The first proxy answers every /api request; the second is never reached, so it stays silent.
    await request(url).get('/api/a');
    await request(url).get('/api/b');
    expect(await mountingWarnings()).toHaveLength(1);
    const other = await start(misplaced);
    await request(other).get('/api/a');
    expect(await mountingWarnings()).toHaveLength(2);
  });

  it(`maintenance() ${express ? 'after gatewayErrors()' : 'above gatewayErrors()'}: the default page, and one warning`, async () => {
    const url = await start(express ? ['errors', 'maintenance', 'proxy'] : ['maintenance', 'errors', 'proxy']);
    for (let i = 0; i < 2; i++) {
      const res = await request(url).get('/api/users').set('Accept', htmlAccept);
      expectError(res, { status: 503, format: 'html', type: 'proxy_internal_response', title: 'Down for maintenance' });
      expect(res.text).not.toContain('Acme');
    }
    const found = await mountingWarnings();
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      express
        ? /^gateway-errors: a maintenance\(\) is mounted after this app's gatewayErrors\(\)/
        : /^gateway-errors: this app's gatewayErrors\(\) is mounted below a maintenance\(\)/,
    );
    expect(found[0]).toMatch(fix);
  });

  it('maintenance() and no gatewayErrors() at all: its page, and no warning (a setup of its own)', async () => {
    const url = await start(['maintenance', 'route']);
    const res = await request(url).get('/me').set('Accept', htmlAccept);
    expectError(res, { status: 503, format: 'html', type: 'proxy_internal_response', title: 'Down for maintenance' });
    expect(await mountingWarnings()).toEqual([]);
  });

  it("the README's own wiring: every failure answered with the app's locals, and no warning", async () => {
    const url = await start(express ? ['proxy', 'route', 'errors'] : ['errors', 'proxy', 'route']);
    for (const path of ['/api/users', '/me']) {
      const res = await request(url).get(path).set('Accept', htmlAccept);
      expectError(res, { status: 502, format: 'html', type: 'connection_refused' });
      expect(res.text).toContain('Acme');
    }
    const gated = await start(
      express ? ['maintenance', 'proxy', 'route', 'errors'] : ['errors', 'maintenance', 'proxy'],
    );
    const res = await request(gated).get('/api/users').set('Accept', htmlAccept);
    expectError(res, { status: 503, format: 'html', type: 'proxy_internal_response', title: 'Down for maintenance' });
    expect(res.text).toContain('Acme');
    expect(await mountingWarnings()).toEqual([]);
    expect(warnings).toEqual([]);
  });
});
