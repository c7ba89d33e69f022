/**
 * A real browser against a Koa app on HTTP/2 with `allowHTTP1`: the proxy resets an HTTP/2 request with
 * HTTP_1_1_REQUIRED, and chromium sends it again over HTTP/1.1, which the proxy serves. Skipped when chromium is
 * missing outside CI (see chromium.ts).
 */
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { gatewayErrors, gatewayProxy } from '@gateway-errors/koa';
import { certificates, echoUpstream, type Upstream } from '@gateway-errors/testing';
import Koa from 'koa';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { launch, runs } from './chromium.js';

let upstream: Upstream | undefined;
let server: Http2SecureServer | undefined;
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await upstream?.close();
});

describe.skipIf(!runs)('HTTP/2 in a real browser', () => {
  it('chromium gets the upstream answer, asking again over HTTP/1.1', async () => {
    upstream = await echoUpstream();
    const seen: string[] = [];
    const app = new Koa();
    app.silent = true;
    app.use(async (ctx, next) => {
      seen.push(`${ctx.req.httpVersion} ${ctx.path}`);
      await next();
    });
    app.use(gatewayErrors());
    app.use(gatewayProxy({ target: upstream.url }));
    server = createSecureServer({ ...certificates.valid, allowHTTP1: true }, app.callback());
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    // The test CA is not the system's; the certificate is valid for localhost otherwise.
    browser = await launch(['--ignore-certificate-errors']);
    const page = await browser.newPage();
    const response = await page.goto(`https://localhost:${(server.address() as AddressInfo).port}/through/the/proxy`);
    expect(response?.status()).toBe(200);
    expect(JSON.parse((await response?.text()) ?? '{}')).toMatchObject({ method: 'GET', url: '/through/the/proxy' });
    // (The browser also asks for /favicon.ico, over HTTP/1.1 by then.)
    expect(seen.filter((line) => line.endsWith('/through/the/proxy'))).toEqual([
      '2.0 /through/the/proxy',
      '1.1 /through/the/proxy',
    ]);
  }, 60_000);
});
