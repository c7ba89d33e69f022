import { createServer, type ServerResponse } from 'node:http';
import { echoUpstream, httpUpstream } from '@gateway-errors/testing';
import { expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';
import { createGateway, shutdown } from '../app.js';

const servers = testServers();
const bypassToken = 'operators-only-4f9c2a';
const bypass = { 'x-maintenance-bypass': bypassToken };

/** The example's gateway in front of an echo, in maintenance until ten minutes from now. */
async function inMaintenance(allowIps?: string[]) {
  const upstream = await servers.stopAfter(echoUpstream());
  const until = new Date(Date.now() + 10 * 60_000);
  const gateway = createGateway({ target: upstream.url, until, bypassToken, allowIps });
  await servers.stopAfter(gateway.proxy);
  return { ...gateway, base: await servers.serve(gateway.app) };
}

it('answers visitors 503 with Retry-After until the end of the window, as a page or problem+json', async () => {
  const { base } = await inMaintenance();
  const res = await fetch(`${base}/shop`, { headers: { accept: 'application/json' } });
  expect(res.status).toBe(503);
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=proxy_internal_response');
  expect(res.headers.get('cache-control')).toBe('no-store');
  // Ten minutes from when the gateway was made: a few seconds less by now, never more.
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(540);
  expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(600);
  expect(await res.json()).toMatchObject({ status: 503, errorType: 'proxy_internal_response' });

  const page = await fetch(`${base}/shop`, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(503);
  const html = await page.text();
  expect(html).toContain('<title>503 Down for maintenance · Acme</title>');
  expect(html).toContain('<h1>We are doing some planned maintenance</h1>');
});

it('lets through the bypass header with its secret, the status check, and listed addresses', async () => {
  const { base } = await inMaintenance();
  const operator = await fetch(`${base}/shop`, { headers: bypass });
  expect(operator.status).toBe(200);
  expect(await operator.json()).toMatchObject({ method: 'GET', url: '/shop' });
  const guess = await fetch(`${base}/shop`, { headers: { 'x-maintenance-bypass': 'operators-only-4f9c2b' } });
  expect(guess.status).toBe(503);
  const status = await fetch(`${base}/status`);
  expect(status.status).toBe(200);
  expect(await status.text()).toBe('ok\n');

  const office = await inMaintenance(['127.0.0.1']);
  expect((await fetch(`${office.base}/shop`)).status).toBe(200);
});

it('opens the site when the gate is switched off', async () => {
  const { base, gate } = await inMaintenance();
  expect((await fetch(`${base}/shop`)).status).toBe(503);
  gate.enabled = false;
  const res = await fetch(`${base}/shop`);
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ url: '/shop' });
});

it("on SIGTERM's shutdown, lets an operator's request in flight finish, and closes its connection after it", async () => {
  const held: ServerResponse[] = [];
  let arrived: () => void = () => {};
  const arrival = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const upstream = await servers.stopAfter(
    httpUpstream((_req, res) => {
      held.push(res);
      arrived();
    }),
  );
  const { app, proxy } = createGateway({ target: upstream.url, until: new Date(Date.now() + 60_000), bypassToken });
  const server = createServer(app);
  const base = await servers.serve(server);

  const inFlight = fetch(`${base}/deploy-check`, { headers: bypass });
  await arrival;
  const drained = shutdown(server, proxy);
  held[0]?.end('late but complete\n');
  const res = await inFlight;
  expect(res.status).toBe(200);
  expect(res.headers.get('connection')).toBe('close');
  expect(await res.text()).toBe('late but complete\n');
  expect(await drained).toMatchObject({ requests: { finished: 1, cut: 0 } });
});
