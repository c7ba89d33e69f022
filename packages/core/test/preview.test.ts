import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createErrorResponder,
  createPreview,
  type ErrorResponder,
  type ErrorResponseOptions,
  type PreviewOptions,
} from '@gateway-errors/core';
import { failureOf } from '@gateway-errors/core/unstable-internals';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

const servers = testServers();
const notPreview = 'not the preview\n';

beforeEach(() => {
  vi.stubEnv('NODE_ENV', 'development');
});
afterEach(() => {
  vi.unstubAllEnvs();
});

/** A server whose every request goes to the preview first, then to a 404 of the app's own. */
async function previewServer(
  responder: ErrorResponder,
  options?: PreviewOptions,
  before?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<string> {
  const preview = createPreview(responder, options);
  return servers.serve((req, res) => {
    before?.(req, res);
    if (preview(req, res)) return;
    // The real handler, for a failure like the preview's 502.
    if (req.url === '/real') responder.send(failureOf('connection_refused'), req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end(notPreview);
  });
}

/** Collects process warnings while `run` runs. */
async function warningsOf(run: () => unknown): Promise<Array<Error & { code?: string }>> {
  const warnings: Error[] = [];
  const listener = (warning: Error) => warnings.push(warning);
  process.on('warning', listener);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return warnings;
}

/** A GET with the path sent byte for byte (supertest and fetch would normalise dot segments). */
function rawGet(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    httpRequest({ host: hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

function expectPreviewHeaders(res: request.Response): void {
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.headers['x-robots-tag']).toBe('noindex, nofollow');
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['retry-after']).toBeUndefined();
  expect(res.headers['proxy-status']).toBeUndefined();
}

describe('off unless NODE_ENV is development', () => {
  it.each([['production'], ['test'], ['staging'], [undefined]])(
    'with NODE_ENV=%s every request goes on, and a warning says why, once',
    async (environment) => {
      vi.stubEnv('NODE_ENV', environment);
      const responder = createErrorResponder();
      const warnings = await warningsOf(() => {
        createPreview(responder);
        createPreview(responder);
      });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.code).toBe('GATEWAY_ERRORS_PREVIEW_OFF');
      expect(warnings[0]?.message).toContain('the error page preview at /_errors is off');
      expect(warnings[0]?.message).toContain(environment === undefined ? 'NODE_ENV is not set' : `"${environment}"`);
      const url = await previewServer(responder);
      for (const path of ['/_errors', '/_errors/', '/_errors?page=502']) {
        const res = await request(url).get(path);
        expect(res.status).toBe(404);
        expect(res.text).toBe(notPreview);
      }
    },
  );
});

describe('options', () => {
  it.each([
    [{ path: '_errors' }, /preview\(\) path must be a plain path starting with \/, such as '\/_errors'; got "_errors"/],
    [{ path: '/a/../b' }, /path must be a plain path/],
    [{ path: '/errors?x=1' }, /path must be a plain path/],
    [{ path: 5 }, /path must be a plain path .* got 5/],
    [{ pth: '/x' }, /preview\(\) has no option "pth"\. Did you mean "path"\?/],
  ])('%j is refused at construction', (options, message) => {
    expect(() => createPreview(createErrorResponder(), options as PreviewOptions)).toThrow(message);
  });

  it('takes only a responder made by createErrorResponder()', () => {
    const lookalike = { ...createErrorResponder() };
    expect(() => createPreview(lookalike)).toThrow(/takes a responder made by createErrorResponder\(\)/);
  });
});

describe('the index', () => {
  it('links every page in every language and format, and says what each carries for real', async () => {
    const responder = createErrorResponder({ locals: { siteName: 'Acme' } });
    const url = await previewServer(responder);
    for (const path of ['/_errors', '/_errors/']) {
      const res = await request(url).get(path);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expectPreviewHeaders(res);
      expect(res.text).toContain('<meta name="robots" content="noindex, nofollow">');
      expect(res.text).toContain('<h1>Error pages of Acme</h1>');
      const links = [...res.text.matchAll(/<a href="(\?page=[^"]+)"/g)].map((match) => match[1]);
      const locales = [...responder.settings.messages.keys()];
      expect(locales.length).toBeGreaterThanOrEqual(7);
      expect(links).toHaveLength(5 * locales.length * 3);
      expect(links).toContain('?page=maintenance&amp;lang=ja&amp;format=json');
      expect(res.text).toMatch(/<th scope="row">503<\/th><td>[^<]*<\/td><td>503, Retry-After: 30<\/td>/);
      expect(res.text).toMatch(/<th scope="row">maintenance<\/th><td>[^<]*<\/td><td>503, Retry-After: 3600<\/td>/);
      expect(res.text).toMatch(/<th scope="row">500<\/th><td>[^<]*<\/td><td>500<\/td>/);
    }
  });

  it('answers HEAD without a body, and refuses other methods with 405', async () => {
    const url = await previewServer(createErrorResponder());
    const head = await request(url).head('/_errors');
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBeGreaterThan(0);
    expect(head.text).toBeUndefined();
    const post = await request(url).post('/_errors').send('x');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.text).toBe('The error page preview answers GET and HEAD.\n');
  });

  it('answers only at its path: others go on, dot segments and encoded slashes included', async () => {
    const url = await previewServer(createErrorResponder(), { path: '/admin/errors/' });
    expect((await request(url).get('/admin/errors')).status).toBe(200);
    expect((await request(url).get('/admin/errors/?page=504')).status).toBe(200);
    for (const path of [
      '/_errors',
      '/admin/errors/x',
      '/admin/errors/..%2f..%2fetc',
      '/admin/errors/../errors',
      '/admin',
    ]) {
      const res = await rawGet(url, path);
      expect(res, path).toEqual({ status: 404, body: notPreview });
    }
  });
});

describe('a page', () => {
  it('is the real handler’s own rendering, in the language and format asked, answered with 200', async () => {
    // Without diagnostics, whose sample failure says more than this test's.
    const options: ErrorResponseOptions = {
      locals: { siteName: 'Acme' },
      messages: { fr: { home: 'Accueil Acme' } },
      development: false,
    };
    const responder = createErrorResponder(options);
    const url = await previewServer(responder);
    const real = async (accept: string) =>
      (await request(url).get('/real').set({ accept, 'accept-language': 'fr', 'x-request-id': 'ref-1' })).text;

    const page = await request(url).get('/_errors?page=502&lang=fr&format=html').set('X-Request-Id', 'ref-1');
    expect(page.status).toBe(200);
    expectPreviewHeaders(page);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-language']).toBe('fr');
    expect(page.text).toBe(await real('text/html'));
    expect(page.text).toContain('Accueil Acme');
    expect(page.text).toContain('Acme');

    const json = await request(url).get('/_errors?page=502&lang=fr&format=json').set('X-Request-Id', 'ref-1');
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(json.body).toMatchObject({ status: 502, errorType: 'connection_refused', requestId: 'ref-1' });
    expect(json.text).toBe(await real('application/json'));

    const text = await request(url).get('/_errors?page=maintenance&lang=FR&format=text');
    expect(text.status).toBe(200);
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.text).toMatch(/^503 Service Unavailable\n/);
    expect(text.text).toContain('maintenance');
  });

  it('shows the diagnostics panel when the handler does (development mode, the default under NODE_ENV=development)', async () => {
    const url = await previewServer(createErrorResponder());
    const res = await request(url).get('/_errors?page=502');
    expect(res.text).toContain('<dt>Upstream</dt><dd><code>http://127.0.0.1:4000</code></dd>');
    const index = await request(url).get('/_errors');
    expect(index.text).toContain('Diagnostics panel: on (development mode)');
    const production = await previewServer(createErrorResponder({ development: false }));
    expect((await request(production).get('/_errors?page=502')).text).not.toContain('Upstream');
  });

  it('defaults to HTML in the default language', async () => {
    const url = await previewServer(createErrorResponder({ defaultLocale: 'de' }));
    const res = await request(url).get('/_errors?page=504');
    expect(res.status).toBe(200);
    expect(res.headers['content-language']).toBe('de');
    expect(res.text).toContain('<html lang="de"');
  });

  it('goes through the render hook and the nonce of the response’s policy, as the real handler does', async () => {
    const hook = vi.fn((_failure, request: { defaultRender(): { body: string } }) => ({
      status: 502,
      body: `hooked ${request.defaultRender().body.length}`,
    }));
    const url = await previewServer(createErrorResponder({ render: hook }), undefined, (_req, res) => {
      res.setHeader('content-security-policy', "style-src 'nonce-abc123'");
    });
    const res = await request(url).get('/_errors?page=502&format=text');
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/^hooked \d+$/);
    expect(hook).toHaveBeenCalledTimes(1);
    const plain = await previewServer(createErrorResponder(), undefined, (_req, res) => {
      res.setHeader('content-security-policy', "style-src 'nonce-abc123'");
    });
    const html = await request(plain).get('/_errors?page=503');
    expect(html.text).toContain('<style nonce="abc123">');
    expect((await request(plain).get('/_errors')).text).toContain('<style nonce="abc123">');
  });
});

describe('your templates are read again on each request', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gateway-errors-preview-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows an edit on reload, and a broken template with its file and line, escaped', async () => {
    writeFileSync(join(dir, '502.ejs'), '<p>first <%= page.status %></p>');
    const responder = createErrorResponder({ templates: dir });
    const url = await previewServer(responder);
    expect((await request(url).get('/_errors?page=502')).text).toContain('<p>first 502</p>');

    writeFileSync(join(dir, '502.ejs'), '<p>second <%= page.status %></p>');
    expect((await request(url).get('/_errors?page=502')).text).toContain('<p>second 502</p>');
    // The real handler keeps what it compiled at start-up.
    expect((await request(url).get('/real').set('Accept', 'text/html')).text).toContain('<p>first 502</p>');

    writeFileSync(join(dir, '502.ejs'), '<p>\n<%= page.nothing.here %> <b>\n</p>');
    const thrown = await request(url).get('/_errors?page=502');
    expect(thrown.status).toBe(500);
    expect(thrown.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect(thrown.text).toContain('This page does not render');
    expect(thrown.text).toContain(`${join(dir, '502.ejs')}:2:`);
    expect(thrown.text).toContain('&lt;b&gt;');
    expect(thrown.text).not.toContain(' <b>');

    writeFileSync(join(dir, '502.ejs'), '<% if (page.status) { %>');
    const broken = await request(url).get('/_errors?page=502');
    expect(broken.status).toBe(500);
    expect(broken.text).toContain(`cannot compile template ${join(dir, '502.ejs')}`);
    // A set that does not compile renders no page.
    expect((await request(url).get('/_errors?page=504')).status).toBe(500);
  });
});

describe('worst values of the query: a 400 that names the fix, every echo escaped', () => {
  it.each([
    ['?page=501', /The preview has the page &#34;501&#34;: give page=502, 503, maintenance, 504, 500\./],
    ['?lang=en', /The preview has no page: give page=502/],
    ['?page=../layout', /the page &#34;..\/layout&#34;/],
    ['?page=<script>alert(1)</script>', /the page &#34;&lt;script&gt;alert\(1\)&lt;\/script&gt;&#34;/],
    [
      '?page=502&lang=../../../etc/passwd',
      /no messages in the language &#34;..\/..\/..\/etc\/passwd&#34;: give lang=en, /,
    ],
    ['?page=502&lang=%22%3E%3Cimg%20src%3Dx%3E', /the language &#34;\\&#34;&gt;&lt;img src=x&gt;&#34;/],
    ['?page=502&format=xml', /no format &#34;xml&#34;: give format=html, json or text\./],
    ['?page=502&format=__proto__', /no format &#34;__proto__&#34;/],
    ['?page=502&format=constructor', /no format &#34;constructor&#34;/],
    ['?page=502&page=503', /Give page once\./],
    ['?pgae=502', /no parameter &#34;pgae&#34;: it takes page, lang and format\./],
    ['?%3Cb%3E=1', /no parameter &#34;&lt;b&gt;&#34;/],
    [`?page=${'x'.repeat(5000)}`, /the page &#34;x{80}…&#34;/],
  ])('%s', async (query, message) => {
    const url = await previewServer(createErrorResponder());
    const res = await request(url).get(`/_errors${query}`);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expectPreviewHeaders(res);
    expect(res.text).toMatch(message);
    expect(res.text).not.toMatch(/<(?:script|img|b)[\s>]/);
    expect(res.text).toContain('<a href="?">Every page</a>');
  });
});
