import { refusingUpstream } from '@gateway-errors/testing';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { adapters } from './adapters.js';
import { harness, htmlAccept } from './harness.js';

// The preview is the app's own gatewayErrors(): the same templates, locals and messages, mounted by the adapter.
describe.each(adapters)('$name: the error page preview', (adapter) => {
  const h = harness(adapter);
  const errors = {
    locals: { siteName: 'Acme <Shop>' },
    messages: { fr: { home: 'Accueil Acme' } },
    development: false,
  };
  const mountName = adapter.framework === 'express' ? "app.use('/admin', ...)" : "koa-mount('/admin', ...)";

  beforeEach(() => {
    vi.stubEnv('NODE_ENV', 'development');
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('lists every page at /_errors and shows each with the app’s locals and messages, while the app answers the rest', async () => {
    const upstream = await h.upstream(refusingUpstream);
    const { url } = await h.app({ errors, preview: {}, proxy: { target: upstream.url } });

    const index = await request(url).get('/_errors');
    expect(index.status).toBe(200);
    expect(index.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect(index.text).toContain('<h1>Error pages of Acme &lt;Shop&gt;</h1>');
    expect(index.text).toContain('href="?page=502&amp;lang=fr&amp;format=html"');

    const page = await request(url).get('/_errors?page=502&lang=fr');
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.text).toContain('Accueil Acme');
    // The very page the app sends for a real failure, but for the status.
    const real = await request(url).get('/api/x').set('Accept', htmlAccept).set('Accept-Language', 'fr');
    expect(real.status).toBe(502);
    expect(real.headers['content-language']).toBe('fr');
    // But for the reference: the proxy gives each request an id of its own.
    const unreferenced = (text: string) => text.replace(/(<p class="reference">[^<]*<code>)[^<]*/, '$1');
    expect(unreferenced(page.text)).toBe(unreferenced(real.text));

    const json = await request(url).get('/_errors?page=503&format=json');
    expect(json.status).toBe(200);
    expect(json.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(json.body).toMatchObject({ status: 503, errorType: 'destination_unavailable', retryAfter: 30 });

    const bad = await request(url).get('/_errors?page=502&lang=<xx>');
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('the language &#34;&lt;xx&gt;&#34;');

    // Not the preview's: on to the app (its proxy, its 404).
    expect((await request(url).get('/_errors/other')).status).toBe(404);
    expect((await request(url).get('/api/x').set('Accept', htmlAccept)).status).toBe(502);
  });

  it(`answers under a mount path: ${mountName} with the path option`, async () => {
    const { url } = await h.app({ errors, preview: { at: '/admin', options: { path: '/error-pages' } } });
    expect((await request(url).get('/admin/error-pages/')).status).toBe(200);
    expect((await request(url).get('/admin/error-pages?page=504&format=text')).text).toMatch(/^504 Gateway Timeout\n/);
    expect((await request(url).get('/error-pages')).status).toBe(404);
    expect((await request(url).get('/_errors')).status).toBe(404);
  });

  it('puts the nonce of a policy set earlier on the index and the pages', async () => {
    const { url } = await h.app({
      errors,
      preview: {},
      earlyHeaders: { 'Content-Security-Policy': "default-src 'none'; style-src 'nonce-r4nd0m'" },
    });
    expect((await request(url).get('/_errors')).text).toContain('<style nonce="r4nd0m">');
    const page = await request(url).get('/_errors?page=maintenance');
    expect(page.text).toContain('<style nonce="r4nd0m">');
    expect(page.headers['content-security-policy']).toBe("default-src 'none'; style-src 'nonce-r4nd0m'");
  });

  it('is off in production: /_errors is the app’s like any unknown path', async () => {
    vi.stubEnv('NODE_ENV', 'production');
    const warnings: Error[] = [];
    const listener = (warning: Error) => warnings.push(warning);
    process.on('warning', listener);
    try {
      const { url } = await h.app({ errors, preview: {} });
      for (const path of ['/_errors', '/_errors?page=502']) {
        const res = await request(url).get(path);
        expect(res.status).toBe(404);
        expect(res.text).not.toContain('Acme');
      }
    } finally {
      process.off('warning', listener);
    }
    expect(warnings.map((warning) => (warning as { code?: string }).code)).toEqual(['GATEWAY_ERRORS_PREVIEW_OFF']);
  });
});
