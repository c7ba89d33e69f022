import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  echoUpstream,
  hangingUpstream,
  refusingUpstream,
  resetAfterRequest,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clients, createApp } from '../app.js';

const upstreams: Upstream[] = [];
let server: Server;
let base: string;

// One app in front of a real upstream per behaviour, shared by every test: each test makes its own call.
beforeAll(async () => {
  const started = {
    ok: await echoUpstream(),
    refused: await refusingUpstream(),
    reset: await resetAfterRequest(),
    hang: await hangingUpstream(),
    unavailable: await statusUpstream({ status: 503, retryAfter: '120' }),
  };
  upstreams.push(...Object.values(started));
  const services = Object.fromEntries(Object.entries(started).map(([name, upstream]) => [name, upstream.url]));
  server = createServer(createApp({ services, timeout: 150 }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await Promise.all(upstreams.map((upstream) => upstream.close()));
});

const failures = [
  { service: 'refused', status: 502, type: 'connection_refused' },
  { service: 'reset', status: 502, type: 'connection_terminated' },
  { service: 'hang', status: 504, type: 'http_response_timeout' },
];

describe.each(Object.keys(clients))('%s in a route', (client) => {
  it("answers with the service's answer when all is well", async () => {
    const res = await fetch(`${base}/${client}/ok/forecast/today`);
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text())).toMatchObject({ method: 'GET', url: '/forecast/today' });
  });

  it.each(failures)('a call to $service: $status $type', async ({ service, status, type }) => {
    const res = await fetch(`${base}/${client}/${service}/forecast`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(res.headers.get('proxy-status')).toBe(`gateway-errors; error=${type}`);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toMatchObject({ status, errorType: type, retryAfter: 5 });
  });

  it('a call to refused, from a browser: the HTML page, nothing internal', async () => {
    const res = await fetch(`${base}/${client}/refused/forecast`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(502);
    const page = await res.text();
    expect(page).toContain('<title>502 Bad Gateway · Acme</title>');
    expect(page).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
  });
});

describe("a service's own 503", () => {
  it.each(['fetch', 'undici'])('%s resolves on it: the route throws BadGatewayError, 502', async (client) => {
    const res = await fetch(`${base}/${client}/unavailable/forecast`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(502);
    expect(res.headers.get('retry-after')).toBe('5');
    const problem = await res.text();
    expect(JSON.parse(problem)).toMatchObject({ status: 502, title: 'Bad Gateway' });
    expect(problem).not.toContain('answered 503');
  });

  it.each(['axios', 'got'])('%s rejects on it: 503 and its Retry-After, passed on', async (client) => {
    const res = await fetch(`${base}/${client}/unavailable/forecast`, { headers: { accept: 'application/json' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('120');
    expect(res.headers.get('proxy-status')).toBe('gateway-errors; received-status=503');
    const problem = await res.text();
    expect(JSON.parse(problem)).toMatchObject({ status: 503, retryAfter: 120 });
    expect(problem).not.toContain('upstream says');
  });
});

it('leaves an unknown client or service to Express: 404', async () => {
  expect((await fetch(`${base}/curl/ok/forecast`)).status).toBe(404);
  expect((await fetch(`${base}/fetch/nowhere/forecast`)).status).toBe(404);
  expect((await fetch(`${base}/fetch/constructor/forecast`)).status).toBe(404);
});

it("the README's code is app.js, as it runs", () => {
  const here = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
  expect(here('README.md')).toContain(`\`\`\`js\n${here('app.js')}\`\`\``);
});
