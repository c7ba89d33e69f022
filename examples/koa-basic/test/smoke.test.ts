import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { echoUpstream, hangingUpstream, refusingUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, expect, it } from 'vitest';
import { createApp } from '../app.js';

const servers: Server[] = [];
const upstreams: Upstream[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function upstream(start: Promise<Upstream>): Promise<string> {
  const started = await start;
  upstreams.push(started);
  return started.url;
}

/** Serves the example's app on 127.0.0.1, port 0; resolves with its base URL and the lines it logged. */
async function serve(options: { apiUrl: string; searchUrl: string; timeout?: number }) {
  const logged: string[] = [];
  const server = createServer(createApp({ ...options, log: (line) => logged.push(line) }).callback());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, logged };
}

it('strips the mount path under koa-mount, and forwards the full path under @koa/router', async () => {
  const { base } = await serve({ apiUrl: await upstream(echoUpstream()), searchUrl: await upstream(echoUpstream()) });

  const api = await fetch(`${base}/api/users/7`);
  expect(api.status).toBe(200);
  expect(await api.json()).toMatchObject({ method: 'GET', url: '/users/7' });

  const search = await fetch(`${base}/search/books?q=koa`);
  expect(search.status).toBe(200);
  expect(await search.json()).toMatchObject({ method: 'GET', url: '/search/books?q=koa' });
});

it('answers a refused API with 502, and still emits the error event for the logs', async () => {
  const { base, logged } = await serve({
    apiUrl: await upstream(refusingUpstream()),
    searchUrl: await upstream(echoUpstream()),
  });
  const res = await fetch(`${base}/api/users/7`);
  expect(res.status).toBe(502);
  expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_refused');
  expect(res.headers.get('retry-after')).toBe('5');
  const text = await res.text();
  expect(text).toMatch(/^502 Bad Gateway\n/);
  expect(text).not.toContain('127.0.0.1');
  expect(logged).toEqual(['GET /api/users/7: 502 connection_refused']);
});

it('answers a search service that never answers with 504 and the HTML page', async () => {
  const { base } = await serve({
    apiUrl: await upstream(echoUpstream()),
    searchUrl: await upstream(hangingUpstream()),
    timeout: 100,
  });
  const res = await fetch(`${base}/search/books`, { headers: { accept: 'text/html', 'accept-language': 'de' } });
  expect(res.status).toBe(504);
  expect(res.headers.get('content-language')).toBe('de');
  const page = await res.text();
  expect(page).toContain('<html lang="de"');
  expect(page).toContain('Acme');
});

it("keeps a thrown 503's Retry-After, and leaves Koa's own 404 alone", async () => {
  const { base, logged } = await serve({
    apiUrl: await upstream(echoUpstream()),
    searchUrl: await upstream(echoUpstream()),
  });
  const res = await fetch(`${base}/reports`, { headers: { accept: 'application/json' } });
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe('600');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await res.json()).toMatchObject({ status: 503, title: 'Service Unavailable', retryAfter: 600 });
  expect(logged).toEqual(['GET /reports: 503 reports are rebuilt at night']);

  const missing = await fetch(`${base}/nowhere`);
  expect(missing.status).toBe(404);
  expect(await missing.text()).toBe('Not Found');
});
