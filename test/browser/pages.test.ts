/**
 * The default error pages in a real browser: Debian's chromium driven by playwright-core, axe-core injected into
 * each page. Every page, light and dark, 320 px and 1280 px wide: no accessibility violation, no request besides the
 * document, no horizontal scrolling, and a countdown that reaches its retry state.
 *
 * Skipped, with a message, when chromium is missing outside CI; in CI a missing chromium fails the run.
 * `UPDATE_SCREENSHOTS=1` rewrites docs/screenshots/ (missing screenshots are always written).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createErrorResponder, type ErrorResponder, type GatewayFailure } from '@gateway-errors/core';
import { declaredFailure, failureOf } from '@gateway-errors/core/unstable-internals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, runs } from './chromium.js';

const screenshots = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** A small inline logo: a page may show one, as long as it is a data: URL. */
const logo =
  'data:image/svg+xml;base64,' +
  Buffer.from(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#0b57d0"/><path d="M9 22l7-12 7 12z" fill="#fff"/></svg>',
  ).toString('base64');

interface PageCase {
  name: string;
  path: string;
  failure: (retry: number | undefined) => GatewayFailure;
  countdown: boolean;
}

const pages: PageCase[] = [
  {
    name: '502',
    path: '/502',
    failure: (retry) => failureOf('connection_refused', { retryAfter: retry }),
    countdown: true,
  },
  {
    name: '503',
    path: '/503',
    failure: (retry) => failureOf('destination_unavailable', { retryAfter: retry }),
    countdown: true,
  },
  {
    name: '503 maintenance',
    path: '/503-maintenance',
    failure: (retry) => failureOf('proxy_internal_response', { retryAfter: retry }),
    countdown: true,
  },
  {
    name: '504',
    path: '/504',
    failure: (retry) => failureOf('http_response_timeout', { retryAfter: retry }),
    countdown: true,
  },
  { name: 'generic error', path: '/error', failure: () => declaredFailure(500), countdown: false },
];

const locals = {
  siteName: 'Acme',
  logoUrl: logo,
  statusPageUrl: 'https://status.acme.example/',
  contactUrl: 'mailto:support@acme.example',
};
const responders: Record<string, ErrorResponder> = {
  default: createErrorResponder({ locals, development: false, retryAfter: { hint: 2 } }),
  development: createErrorResponder({ locals, development: true, retryAfter: { hint: 2 } }),
  brand: createErrorResponder({ locals: { ...locals, siteName: 'Acme Books' }, retryAfter: { hint: 2 } }),
};
const strictPolicy = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; img-src data:; base-uri 'none'; form-action 'none'`;

let server: Server | undefined;
let origin = '';
/** Every request the server received, in order: the proof that a page fetched nothing else. */
const hits: string[] = [];
let browser: Browser | undefined;

beforeAll(async () => {
  if (!runs) return;
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname.replace(/^\/(dev|csp|csp-blocked|brand)(?=\/)/, '');
    const found = pages.find((page) => page.path === path);
    if (found === undefined) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    const retry = url.searchParams.has('retry') ? Number(url.searchParams.get('retry')) : undefined;
    if (url.pathname.startsWith('/csp/')) res.setHeader('Content-Security-Policy', strictPolicy('cHJvb2Ytbm9uY2U='));
    // A strict policy with a nonce the page is not given: inline style and script are blocked.
    if (url.pathname.startsWith('/csp-blocked/'))
      res.setHeader('Content-Security-Policy', "default-src 'none'; img-src data:");
    const responder = url.pathname.startsWith('/dev/')
      ? responders.development
      : url.pathname.startsWith('/brand/')
        ? responders.brand
        : responders.default;
    responder?.send(found.failure(retry), req, res);
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
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
});

interface Visit {
  page: Page;
  status: number | undefined;
  requests: string[];
  hits: string[];
}

/** Opens `path` in a fresh page and records every request the page makes, as the page and the server see them. */
async function visit(context: BrowserContext, path: string): Promise<Visit> {
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith('data:')) requests.push(request.url());
  });
  const first = hits.length;
  const response = await page.goto(`${origin}${path}`, { waitUntil: 'load' });
  return { page, status: response?.status(), requests, hits: hits.slice(first) };
}

async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol: no script tag, no request, and not subject to the page's CSP.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    (
      window as unknown as {
        axe: { run(context: Document, options: object): Promise<{ violations: Array<Record<string, unknown>> }> };
      }
    ).axe.run(document, { resultTypes: ['violations'] }),
  );
  return result.violations.map(
    (violation) =>
      `${violation.id} (${violation.impact}): ${violation.help} — ${JSON.stringify(
        (violation.nodes as Array<{ target: unknown }>).map((node) => node.target),
      )}`,
  );
}

async function overflow(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/** Writes a screenshot to docs/screenshots when it is missing or UPDATE_SCREENSHOTS is set. */
async function screenshot(page: Page, file: string): Promise<void> {
  const path = `${screenshots}${file}`;
  if (existsSync(path) && !process.env.UPDATE_SCREENSHOTS) return;
  mkdirSync(screenshots, { recursive: true });
  await page.screenshot({ path, fullPage: true });
}

const shots: Record<string, { path: string; retry: number }> = {
  '502 light 1280': { path: '502-light-1280.png', retry: 30 },
  '503 dark 320': { path: '503-dark-320.png', retry: 45 },
  '503 maintenance dark 1280': { path: '503-maintenance-dark-1280.png', retry: 1800 },
  '504 light 320': { path: '504-light-320.png', retry: 30 },
};

describe.skipIf(!runs).each([
  { scheme: 'light' as const, width: 1280 },
  { scheme: 'light' as const, width: 320 },
  { scheme: 'dark' as const, width: 1280 },
  { scheme: 'dark' as const, width: 320 },
])('default pages, $scheme, $width px', ({ scheme, width }) => {
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    context = await browser?.newContext({ colorScheme: scheme, viewport: { width, height: 720 } });
  });
  afterAll(async () => {
    await context?.close();
  });

  it.each(pages)(
    '$name',
    async ({ name, path, countdown }) => {
      const { page, status, requests, hits: served } = await visit(context as BrowserContext, `${path}?retry=1`);
      expect(status).toBe(name === 'generic error' ? 500 : Number(name.slice(0, 3)));
      expect(await page.evaluate(() => document.documentElement.lang)).toBe('en');
      const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(background).toBe(scheme === 'dark' ? 'rgb(13, 17, 23)' : 'rgb(255, 255, 255)');

      expect(await axeViolations(page)).toEqual([]);
      expect(await overflow(page)).toBeLessThanOrEqual(0);

      if (countdown) {
        const when = page.locator('#retry-when');
        await when.and(page.locator('[data-done]')).waitFor({ timeout: 10_000 });
        expect(await when.textContent()).toBe('You can try again now.');
        expect(await page.locator('#retry-status').textContent()).toBe('You can try again now.');
      } else {
        expect(await page.locator('script').count()).toBe(0);
      }
      // Still the same document: the countdown never reloads by itself.
      expect(page.url()).toBe(`${origin}${path}?retry=1`);
      expect(requests).toEqual([`${origin}${path}?retry=1`]);
      expect(served).toEqual([`${path}?retry=1`]);
      expect(hits.slice(hits.lastIndexOf(`${path}?retry=1`) + 1)).toEqual([]);

      const shot = shots[`${name} ${scheme} ${width}`];
      if (shot !== undefined) {
        await page.setExtraHTTPHeaders({ 'x-request-id': 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6' });
        await page.goto(`${origin}${path}?retry=${shot.retry}`);
        await screenshot(page, shot.path);
      }
      await page.close();
    },
    60_000,
  );
});

describe.skipIf(!runs)('in a real browser', () => {
  let context: BrowserContext | undefined;
  afterAll(async () => {
    await context?.close();
  });

  it('the development page, with its diagnostics panel, fits 320 px and has no violation', async () => {
    context = await browser?.newContext({ colorScheme: 'dark', viewport: { width: 320, height: 720 } });
    const { page } = await visit(context as BrowserContext, '/dev/502?retry=2');
    expect(await page.locator('.diagnostics dt').first().textContent()).toBe('Error type');
    expect(await axeViolations(page)).toEqual([]);
    expect(await overflow(page)).toBeLessThanOrEqual(0);
  }, 60_000);

  it('a site name of several words stays on one line beside a logo that gives no size of its own', async () => {
    context = await browser?.newContext({ viewport: { width: 1280, height: 720 } });
    const { page } = await visit(context as BrowserContext, '/brand/502?retry=2');
    const lines = await page.evaluate(() => {
      const range = document.createRange();
      range.selectNodeContents(document.querySelector('header span') as Node);
      return range.getClientRects().length;
    });
    expect(lines).toBe(1);
    expect(await page.locator('header img').boundingBox()).toMatchObject({ width: 32, height: 32 });
    expect(await axeViolations(page)).toEqual([]);
  }, 60_000);

  it('the countdown runs under a strict CSP when the page carries the nonce', async () => {
    const page = await (await browser?.newContext())?.newPage();
    if (page === undefined) throw new Error('no page');
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    await page.goto(`${origin}/csp/503?retry=1`);
    await page.locator('#retry-when[data-done]').waitFor({ timeout: 10_000 });
    // Styled: the nonce let the inline style in too.
    expect(await page.evaluate(() => getComputedStyle(document.body).margin)).toBe('0px');
    expect(blocked).toEqual([]);
    await page.context().close();
  }, 60_000);

  it('without the nonce, a strict CSP blocks the script: the page still says when to retry, and its link works', async () => {
    const page = await (await browser?.newContext())?.newPage();
    if (page === undefined) throw new Error('no page');
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    // The refusal of the countdown's script is the event to wait for: once refused, it never runs, so no wait for the
    // two seconds it would have counted is needed to know that it did not.
    const scriptRefused = page.waitForEvent('console', {
      predicate: (message) => /Content Security Policy/i.test(message.text()) && /inline script/i.test(message.text()),
      timeout: 10_000,
    });
    await page.goto(`${origin}/csp-blocked/502?retry=2`);
    await scriptRefused;
    expect(blocked.length).toBeGreaterThan(0);
    expect(await page.locator('#retry-when').getAttribute('data-done')).toBeNull();
    expect(await page.locator('#retry-when').textContent()).toBe('Please try again in 2 seconds.');
    await page.context().close();
  }, 60_000);

  it('the retry link works without JavaScript: it reloads the same URL', async () => {
    context = await browser?.newContext({ javaScriptEnabled: false });
    const { page } = await visit(context as BrowserContext, '/504?retry=2&from=link');
    expect(await page.locator('#retry-when').textContent()).toBe('Please try again in 2 seconds.');
    const first = hits.length;
    const [response] = await Promise.all([
      page.waitForResponse(`${origin}/504?retry=2&from=link`),
      page.getByRole('link', { name: 'Try again' }).click(),
    ]);
    expect(response?.status()).toBe(504);
    expect(hits.slice(first)).toEqual(['/504?retry=2&from=link']);
  }, 60_000);
});
