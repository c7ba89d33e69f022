import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  echoUpstream,
  hangingUpstream,
  refusingUpstream,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
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

/** Starts a misbehaving (or healthy) upstream, stopped after the test, and resolves with its URL. */
async function upstream(start: Promise<Upstream>): Promise<string> {
  const started = await start;
  upstreams.push(started);
  return started.url;
}

/** Serves the example's app on 127.0.0.1, port 0, and resolves with its base URL. */
async function serve(options: Parameters<typeof createApp>[0]): Promise<string> {
  const server = createServer(createApp(options));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it('proxies /api to the API, path and all', async () => {
  const base = await serve({ apiUrl: await upstream(echoUpstream()), usersUrl: await upstream(echoUpstream()) });
  const res = await fetch(`${base}/api/users/7?full=1`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ method: 'GET', url: '/users/7?full=1' });
});

it('answers a refused API with 502 connection_refused, as problem+json for a JSON client', async () => {
  const base = await serve({ apiUrl: await upstream(refusingUpstream()), usersUrl: await upstream(echoUpstream()) });
  const res = await fetch(`${base}/api/users/7`, { headers: { accept: 'application/json' } });
  expect(res.status).toBe(502);
  expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_refused');
  expect(res.headers.get('retry-after')).toBe('5');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await res.json()).toMatchObject({ status: 502, title: 'Bad Gateway', errorType: 'connection_refused' });
});

it('answers an API that never answers with 504 and the HTML page for a browser', async () => {
  const base = await serve({
    apiUrl: await upstream(hangingUpstream()),
    usersUrl: await upstream(echoUpstream()),
    timeout: 100,
  });
  const res = await fetch(`${base}/api/users/7`, { headers: { accept: 'text/html' } });
  expect(res.status).toBe(504);
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=http_response_timeout');
  const page = await res.text();
  expect(page).toContain('<title>504 Gateway Timeout · Acme</title>');
  expect(page).toContain('Acme');
});

it('answers a failing fetch in a route: refused is 502, a timeout 504, a 5xx answer 502', async () => {
  const refused = await serve({ apiUrl: await upstream(echoUpstream()), usersUrl: await upstream(refusingUpstream()) });
  const res = await fetch(`${refused}/me`);
  expect(res.status).toBe(502);
  expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_refused');
  expect(await res.text()).toMatch(/^502 Bad Gateway\n/);

  const hanging = await serve({
    apiUrl: await upstream(echoUpstream()),
    usersUrl: await upstream(hangingUpstream()),
    timeout: 100,
  });
  const slow = await fetch(`${hanging}/me`, { headers: { accept: 'application/json' } });
  expect(slow.status).toBe(504);
  expect(await slow.json()).toMatchObject({ status: 504, errorType: 'http_response_timeout' });

  const failing = await serve({
    apiUrl: await upstream(echoUpstream()),
    usersUrl: await upstream(statusUpstream({ status: 503 })),
  });
  const answered = await fetch(`${failing}/me`, { headers: { accept: 'application/json' } });
  expect(answered.status).toBe(502);
  expect(await answered.json()).toMatchObject({ status: 502, title: 'Bad Gateway' });
  expect(JSON.stringify(await fetch(`${failing}/me`).then((r) => r.text()))).not.toContain('answered 503');
});

it('passes an error that is not a gateway failure on to the next error handler', async () => {
  const base = await serve({ apiUrl: await upstream(echoUpstream()), usersUrl: await upstream(echoUpstream()) });
  const errors: unknown[] = [];
  const log = console.error;
  console.error = (error: unknown) => errors.push(error);
  try {
    const res = await fetch(`${base}/bug`);
    expect(res.status).toBe(500);
    expect(res.headers.get('proxy-status')).toBeNull();
    expect(await res.text()).toBe('Something broke on our side.\n');
  } finally {
    console.error = log;
  }
  expect(errors).toMatchObject([{ message: 'a bug of ours' }]);
});
