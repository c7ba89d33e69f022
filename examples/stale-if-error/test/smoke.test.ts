import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type SiteUpstream, siteUpstream } from '@gateway-errors/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createApp } from '../app.js';

let site: SiteUpstream;
let server: Server;
let base: string;
let logged: string[];

beforeEach(async () => {
  site = await siteUpstream();
  site.pages.set('/', { headers: { 'cache-control': 'max-age=10', etag: '"home-1"' }, body: 'home page\n' });
  site.pages.set('/account', { headers: { 'cache-control': 'private' }, body: 'your account\n' });
  site.pages.set('/login', { headers: { 'set-cookie': 'session=s3cret' }, body: 'signed in\n' });
  logged = [];
  server = createServer(createApp({ siteUrl: site.url, log: (line) => logged.push(line) }).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  server.close();
  await site.close();
});

/** Asks for each path once while the site is up, so that the gateway sees (and keeps what it may of) each answer. */
async function visit(...paths: string[]): Promise<void> {
  for (const path of paths) {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-status')).toBeNull();
    await res.text();
  }
}

it('answers a page seen before with its copy when the site resets: 200, Age, Cache-Status', async () => {
  await visit('/');
  site.down = 'reset';
  const res = await fetch(`${base}/`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('home page\n');
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('etag')).toBe('"home-1"');
  expect(res.headers.get('age')).toMatch(/^\d+$/);
  expect(res.headers.get('cache-status')).toMatch(/^gateway-errors; hit; ttl=-?\d+; detail=connection_terminated$/);
  expect(res.headers.get('proxy-status')).toBeNull();
  expect(logged).toEqual([]);
});

it("answers the site's own 503 with the copy too (intercept), with no detail", async () => {
  await visit('/');
  site.down = 503;
  const res = await fetch(`${base}/`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe('home page\n');
  expect(res.headers.get('cache-status')).toMatch(/^gateway-errors; hit; ttl=-?\d+$/);
});

it('answers HEAD from the copy, and a conditional GET with 304', async () => {
  await visit('/');
  site.down = 'reset';
  const head = await fetch(`${base}/`, { method: 'HEAD' });
  expect(head.status).toBe(200);
  expect(head.headers.get('content-length')).toBe('10');
  expect(head.headers.get('cache-status')).toMatch(/; hit; /);
  expect(await head.text()).toBe('');

  const again = await fetch(`${base}/`, { headers: { 'if-none-match': '"home-1"' } });
  expect(again.status).toBe(304);
  expect(again.headers.get('etag')).toBe('"home-1"');
  expect(again.headers.get('cache-status')).toMatch(/; hit; /);
});

it.each([
  ['/account', 'a private page'],
  ['/login', 'a page that sets a cookie'],
  ['/never-seen', 'a page never seen'],
])('never answers %s (%s) with a copy: the error page does', async (path) => {
  await visit(path === '/never-seen' ? '/' : path);
  site.down = 'reset';
  const res = await fetch(`${base}${path}`, { headers: { accept: 'application/json' } });
  expect(res.status).toBe(502);
  expect(res.headers.get('cache-status')).toBeNull();
  expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_terminated');
  const body = await res.text();
  expect(JSON.parse(body)).toMatchObject({ status: 502, errorType: 'connection_terminated' });
  expect(body).not.toMatch(/account|signed in|s3cret|home page/);
  expect(logged).toEqual([`GET ${path}: 502 connection_terminated`]);
});

it('serves the site again, not the copy, once it is back', async () => {
  await visit('/');
  site.down = 'reset';
  expect((await fetch(`${base}/`)).headers.get('cache-status')).toMatch(/; hit; /);
  site.down = false;
  site.pages.set('/', { headers: { 'cache-control': 'max-age=10' }, body: 'home page, new\n' });
  const res = await fetch(`${base}/`);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-status')).toBeNull();
  expect(await res.text()).toBe('home page, new\n');
});

it("the README's code is app.js, as it runs", () => {
  const here = (name: string) => readFileSync(new URL(`../${name}`, import.meta.url), 'utf8');
  expect(here('README.md')).toContain(`\`\`\`js\n${here('app.js')}\`\`\``);
});
