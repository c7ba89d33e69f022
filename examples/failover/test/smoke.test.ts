import type { ProxyEvents } from '@gateway-errors/express';
import pino from 'pino';
import { expect, it, vi } from 'vitest';
import { quietPort, testServers } from '../../../test/support/servers.js';
import { createGateway } from '../app.js';
import { type Backend, startBackend } from '../backends.js';

type Proxy = ReturnType<typeof createGateway>['proxy'];
type HealthEvent = ProxyEvents['health'][0];

const servers = testServers();

/** Backends a, b and c, on ports below the ephemeral range: one that stopped can start again on its port. */
async function threeBackends(): Promise<Backend[]> {
  const backends: Backend[] = [];
  for (const name of ['a', 'b', 'c']) backends.push(await servers.stopAfter(startBackend(name, await quietPort())));
  return backends;
}

/** The example's gateway, served on 127.0.0.1 port 0, logging to `lines` through a real pino. */
async function gateway(backends: Backend[], healthCheck: { interval: number; timeout?: number }) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ base: undefined, timestamp: false }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const { app, proxy } = createGateway({ targets: backends.map((backend) => backend.url), healthCheck, logger });
  await servers.stopAfter(proxy);
  return { base: await servers.serve(app), proxy, lines };
}

/** Resolves with the next `health` event that says `target` (its index) became `healthy`. */
function health(proxy: Proxy, target: number, healthy: boolean): Promise<HealthEvent> {
  return new Promise((resolve) => {
    const listener = (event: HealthEvent) => {
      if (event.target !== target || event.healthy !== healthy) return;
      proxy.off('health', listener);
      resolve(event);
    };
    proxy.on('health', listener);
  });
}

/** GETs `count` pages in turn; each must be a 200. Resolves with the bodies. */
async function pages(base: string, count: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let i = 1; i <= count; i++) {
    const res = await fetch(`${base}/page/${i}`);
    expect(res.status).toBe(200);
    bodies.push(await res.text());
  }
  return bodies;
}

it('goes round-robin, and a request that meets a dead backend is answered by another: the log says so', async () => {
  const [a, b, c] = (await threeBackends()) as [Backend, Backend, Backend];
  // Checks once an hour: this test is about the retry. The first round starts at once: stop b once its check
  // arrived (that answer is still sent), so that b is in rotation and dead.
  const { base, lines } = await gateway([a, b, c], { interval: 3_600_000 });
  expect(await pages(base, 3)).toEqual([
    'hello from backend a: GET /page/1\n',
    'hello from backend b: GET /page/2\n',
    'hello from backend c: GET /page/3\n',
  ]);
  await vi.waitFor(() => expect(b.healthChecks).toBeGreaterThan(0));
  b.stop();

  const bodies = await pages(base, 3);
  for (const body of bodies) expect(body).toMatch(/^hello from backend [ac]: GET \/page\/\d\n$/);
  expect(b.served).toEqual({ '/page/2': 1 });
  const failures = lines.filter((line) => line.event === 'proxy.failure');
  expect(failures).toEqual([
    expect.objectContaining({
      level: 40,
      upstream: b.url,
      method: 'GET',
      attempt: 1,
      status: 502,
      errorType: 'connection_refused',
      phase: 'connect',
      code: 'ECONNREFUSED',
      willRetry: true,
      msg: 'upstream connection_refused (connect); retrying',
    }),
  ]);
  expect(failures[0]?.requestId).toMatch(/\S/);
  const retries = lines.filter((line) => line.event === 'proxy.retry');
  expect(retries).toEqual([
    expect.objectContaining({
      level: 30,
      requestId: failures[0]?.requestId,
      attempt: 2,
      errorType: 'connection_refused',
    }),
  ]);
});

it('takes a dead backend out of rotation on its health check, and back in when it answers again', async () => {
  const [a, b, c] = (await threeBackends()) as [Backend, Backend, Backend];
  const { base, proxy, lines } = await gateway([a, b, c], { interval: 200, timeout: 200 });

  const out = health(proxy, 1, false);
  b.stop();
  expect(await out).toEqual({ upstream: b.url, target: 1, healthy: false, source: 'active' });
  for (const body of await pages(base, 4)) expect(body).toMatch(/^hello from backend [ac]: /);
  expect(b.served).toEqual({});

  const back = health(proxy, 1, true);
  await b.start();
  expect(await back).toEqual({ upstream: b.url, target: 1, healthy: true, source: 'active' });
  expect((await pages(base, 3)).filter((body) => body.startsWith('hello from backend b: '))).toHaveLength(1);

  expect(lines.filter((line) => line.event === 'proxy.failure')).toEqual([]);
  expect(lines.filter((line) => line.event === 'proxy.health' && line.target === 1)).toEqual([
    {
      level: 40,
      event: 'proxy.health',
      upstream: b.url,
      target: 1,
      healthy: false,
      source: 'active',
      msg: 'target out of rotation (active health)',
    },
    {
      level: 40,
      event: 'proxy.health',
      upstream: b.url,
      target: 1,
      healthy: true,
      source: 'active',
      msg: 'target back in rotation (active health)',
    },
  ]);
});

it('answers 503 destination_unavailable with Retry-After when every backend is down', async () => {
  const backends = await threeBackends();
  const { base, proxy } = await gateway(backends, { interval: 200, timeout: 200 });
  const down = Promise.all(backends.map((_, target) => health(proxy, target, false)));
  for (const backend of backends) backend.stop();
  await down;

  const res = await fetch(`${base}/page/1`, { headers: { accept: 'application/json' } });
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=destination_unavailable');
  expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(await res.json()).toMatchObject({ status: 503, errorType: 'destination_unavailable' });

  const page = await fetch(`${base}/page/1`, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(503);
  expect(await page.text()).toContain('<title>503 Service Unavailable · Failover example</title>');
});
