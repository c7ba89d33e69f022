import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  echoUpstream,
  hangingUpstream,
  refusingUpstream,
  resetAfterRequest,
  siteUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { afterEach, expect, it } from 'vitest';
import { createApp, problemTypeBase } from '../app.js';

const servers: Server[] = [];
const upstreams: Upstream[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

async function upstream<T extends Upstream>(start: Promise<T>): Promise<T> {
  const started = await start;
  upstreams.push(started);
  return started;
}

/** Serves the example's app on 127.0.0.1, port 0, in front of the given services (healthy ones by default). */
async function serve(services: Partial<Parameters<typeof createApp>[0]> = {}): Promise<string> {
  const app = createApp({
    usersUrl: services.usersUrl ?? (await upstream(echoUpstream())).url,
    ordersUrl: services.ordersUrl ?? (await upstream(echoUpstream())).url,
    billingUrl: services.billingUrl ?? (await upstream(echoUpstream())).url,
    timeout: services.timeout ?? 5000,
  });
  const server = createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const json = { accept: 'application/json' };

it('proxies each prefix to its service', async () => {
  const base = await serve();
  const res = await fetch(`${base}/v1/users/7?fields=name`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ method: 'GET', url: '/7?fields=name' });
});

it('answers a JSON client with problem+json: its problem type, Retry-After and request id', async () => {
  const base = await serve({ usersUrl: (await upstream(resetAfterRequest())).url });
  const res = await fetch(`${base}/v1/users/7`, { headers: json });
  expect(res.status).toBe(502);
  expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(res.headers.get('retry-after')).toBe('5');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('vary')).toMatch(/^Accept\b/);
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_terminated');
  const requestId = res.headers.get('x-request-id');
  expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect(await res.json()).toEqual({
    type: `${problemTypeBase}connection_terminated`,
    title: 'Bad Gateway',
    status: 502,
    detail: expect.stringContaining('did not answer properly'),
    errorType: 'connection_terminated',
    retryAfter: 5,
    requestId,
  });
});

it('answers a service that never answers with 504 http_response_timeout', async () => {
  const base = await serve({ usersUrl: (await upstream(hangingUpstream())).url, timeout: 100 });
  const res = await fetch(`${base}/v1/users/7`, { headers: { accept: 'application/problem+json' } });
  expect(res.status).toBe(504);
  expect(await res.json()).toMatchObject({
    type: `${problemTypeBase}http_response_timeout`,
    title: 'Gateway Timeout',
    status: 504,
    retryAfter: 5,
  });
});

it("answers the orders service's own 503 in problem+json, with its Retry-After and the id the service was sent", async () => {
  const orders = await upstream(siteUpstream());
  const sent: unknown[] = [];
  orders.pages.set('/42', (req) => {
    sent.push(req.headers['x-request-id']);
    return { status: 503, headers: { 'content-type': 'text/html', 'retry-after': '120' }, body: '<h1>reindex</h1>' };
  });
  const base = await serve({ ordersUrl: orders.url });
  const res = await fetch(`${base}/v1/orders/42`, { headers: json });
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(res.headers.get('retry-after')).toBe('120');
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; received-status=503');
  const problem = await res.json();
  expect(problem).toMatchObject({ type: 'about:blank', title: 'Service Unavailable', status: 503, retryAfter: 120 });
  expect(JSON.stringify(problem)).not.toContain('reindex');
  expect(sent).toEqual([problem.requestId]);
  expect(res.headers.get('x-request-id')).toBe(problem.requestId);
});

it("opens the billing service's circuit after 3 failed attempts: then 503 at once, Retry-After its open time", async () => {
  const billing = await upstream(refusingUpstream());
  const base = await serve({ billingUrl: billing.url });
  // A GET is retried once: the first request makes two attempts, the second a third, which opens the circuit.
  for (const _ of [1, 2]) {
    const refused = await fetch(`${base}/v1/billing/invoices`, { headers: json });
    expect(refused.status).toBe(502);
    expect(await refused.json()).toMatchObject({ type: `${problemTypeBase}connection_refused` });
  }
  const open = await fetch(`${base}/v1/billing/invoices`, { headers: json });
  expect(open.status).toBe(503);
  expect(open.headers.get('retry-after')).toBe('30');
  expect(open.headers.get('proxy-status')).toBe('gateway-errors; error=destination_unavailable');
  expect(await open.json()).toMatchObject({
    type: `${problemTypeBase}destination_unavailable`,
    status: 503,
    errorType: 'destination_unavailable',
    retryAfter: 30,
  });
});

it('still answers a browser with the HTML page, and curl with text', async () => {
  const base = await serve({ usersUrl: (await upstream(refusingUpstream())).url });
  const page = await fetch(`${base}/v1/users/7`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
  expect(page.status).toBe(502);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(await page.text()).toContain('<title>502 Bad Gateway · Acme API</title>');

  const text = await fetch(`${base}/v1/users/7`, { headers: { accept: '*/*' } });
  expect(text.status).toBe(502);
  expect(text.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  expect(await text.text()).toMatch(/^502 Bad Gateway\n/);
});

it("the README's code is app.js, as it runs", () => {
  const here = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
  expect(here('README.md')).toContain(`\`\`\`js\n${here('app.js')}\`\`\``);
});
