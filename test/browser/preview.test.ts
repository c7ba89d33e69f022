/**
 * The error page preview in a real browser: Debian's chromium driven by playwright-core, over an Express app built the
 * way a user builds it (`errors.preview()` before the routes, `errors` last), with templates of its own in a temporary
 * directory. Opens the index, follows its links, sees light and dark, and sees a template edit on reload.
 *
 * Skipped, with a message, when chromium is missing outside CI; in CI a missing chromium fails the run.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayErrors } from '@gateway-errors/express';
import express from 'express';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launch, runs } from './chromium.js';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const backgrounds = { light: 'rgb(255, 255, 255)', dark: 'rgb(13, 17, 23)' };

let templates = '';
let server: Server | undefined;
let origin = '';
let browser: Browser | undefined;
/** Every request the app received: the proof that the preview fetched nothing from elsewhere. */
const hits: string[] = [];

function writeLinks(text: string): void {
  writeFileSync(
    join(templates, 'partials', 'links.ejs'),
    `<%- include('default/partials/links') %>\n<p class="brand">${text}</p>\n`,
  );
}

beforeAll(async () => {
  if (!runs) return;
  templates = mkdtempSync(join(tmpdir(), 'gateway-errors-preview-browser-'));
  mkdirSync(join(templates, 'partials'));
  writeLinks('Acme help desk');
  // The preview decides at construction, like the diagnostics default: NODE_ENV is development only while it is made.
  vi.stubEnv('NODE_ENV', 'development');
  const errors = gatewayErrors({
    templates,
    locals: { siteName: 'Acme' },
    messages: { nl: { maintenance: { heading: 'We zijn even met onderhoud' } } },
  });
  const app = express();
  app.use((req, _res, next) => {
    hits.push(req.url);
    next();
  });
  app.use(errors.preview());
  app.get('/', (_req, res) => {
    res.send('the app');
  });
  app.use(errors);
  vi.unstubAllEnvs();
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server?.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  const running = server;
  if (running !== undefined) {
    running.closeAllConnections();
    await new Promise((resolve) => running.close(resolve));
  }
  if (templates !== '') rmSync(templates, { recursive: true, force: true });
});

async function background(page: Page): Promise<string> {
  return page.evaluate(() => getComputedStyle(document.body).backgroundColor);
}

async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    (
      window as unknown as {
        axe: { run(context: Document, options: object): Promise<{ violations: Array<{ id: string; help: string }> }> };
      }
    ).axe.run(document, { resultTypes: ['violations'] }),
  );
  return result.violations.map((violation) => `${violation.id}: ${violation.help}`);
}

describe.skipIf(!runs).each(['light', 'dark'] as const)('the preview, %s', (scheme) => {
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    context = await browser?.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await context?.close();
  });

  it('opens the index, follows its links to each format, and renders the pages in this scheme', async () => {
    const page = await (context as BrowserContext).newPage();
    const requests: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith('data:')) requests.push(request.url());
    });
    const index = await page.goto(`${origin}/_errors`);
    expect(index?.status()).toBe(200);
    expect(index?.headers()['x-robots-tag']).toBe('noindex, nofollow');
    expect(await page.locator('h1').textContent()).toBe('Error pages of Acme');
    // The index says which scheme the pages are seen in: the viewer's.
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point (the other word is display: none)
    expect(await page.locator('strong').innerText()).toBe(scheme);
    expect(await background(page)).toBe(backgrounds[scheme]);
    // 5 pages, 8 languages (7 built in and nl), 3 formats.
    expect(await page.locator('table a').count()).toBe(5 * 8 * 3);
    expect(await axeViolations(page)).toEqual([]);

    // Each page of the default language, side by side, rendered in this scheme.
    const frames = page.locator('iframe');
    expect(await frames.count()).toBe(5);
    for (let i = 0; i < 5; i++) {
      await frames.nth(i).scrollIntoViewIfNeeded();
      const frame = page.frameLocator('iframe').nth(i);
      await expect.poll(() => frame.locator('.brand').textContent()).toBe('Acme help desk');
      expect(await frame.locator('body').evaluate((body) => getComputedStyle(body).backgroundColor)).toBe(
        backgrounds[scheme],
      );
    }

    const maintenance = page.locator('tr', { has: page.locator('th', { hasText: 'maintenance' }) });
    await maintenance.locator('a[href*="lang=nl"]', { hasText: 'HTML' }).click();
    await page.waitForURL(/page=maintenance&lang=nl&format=html$/);
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('nl');
    expect(await page.locator('h1').textContent()).toBe('We zijn even met onderhoud');
    expect(await page.locator('.brand').textContent()).toBe('Acme help desk');
    expect(await background(page)).toBe(backgrounds[scheme]);
    expect(await axeViolations(page)).toEqual([]);

    await page.goBack();
    const gateway = page.locator('tr', { has: page.locator('th', { hasText: '503' }) });
    await gateway.locator('a[href*="lang=en"]', { hasText: 'JSON' }).click();
    await page.waitForURL(/page=503&lang=en&format=json$/);
    expect(JSON.parse((await page.locator('body').textContent()) ?? '')).toMatchObject({
      status: 503,
      errorType: 'destination_unavailable',
      retryAfter: 30,
    });

    await page.goBack();
    await page
      .locator('tr', { has: page.locator('th', { hasText: '504' }) })
      .locator('a', { hasText: 'text' })
      .first()
      .click();
    await page.waitForURL(/page=504&lang=en&format=text$/);
    expect(await page.locator('body').textContent()).toMatch(/^504 Gateway Timeout\n/);

    expect(requests.every((url) => url.startsWith(`${origin}/_errors`))).toBe(true);
    await page.close();
  });

  it('shows a template edit on reload', async () => {
    const page = await (context as BrowserContext).newPage();
    await page.goto(`${origin}/_errors?page=502&lang=fr`);
    expect(await page.locator('.brand').textContent()).toBe('Acme help desk');
    writeLinks(`Acme, ${scheme}`);
    try {
      await page.reload();
      expect(await page.locator('.brand').textContent()).toBe(`Acme, ${scheme}`);
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('fr');
    } finally {
      writeLinks('Acme help desk');
    }
    await page.close();
  });
});

describe.skipIf(!runs)('the app around the preview', () => {
  it('answers everything else', async () => {
    const page = await (browser as Browser).newPage();
    await page.goto(`${origin}/`);
    expect(await page.locator('body').textContent()).toBe('the app');
    expect(hits).toContain('/');
    await page.close();
  });
});
