import type { RequestListener } from 'node:http';
import {
  createErrorResponder,
  type ErrorResponder,
  type RenderRequest,
  ServiceUnavailableError,
} from '@gateway-errors/core';
import { declaredFailure, failureOf } from '@gateway-errors/core/unstable-internals';
import { refusingUpstream, type Upstream } from '@gateway-errors/testing';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

const servers = testServers();
let upstream: Upstream | undefined;
const serve = (handler: RequestListener): Promise<string> => servers.serve(handler);

/** Collects process warnings while `run` runs. */
async function warningsOf(run: () => unknown): Promise<string[]> {
  const warnings: string[] = [];
  const listener = (warning: Error) => warnings.push(warning.message);
  process.on('warning', listener);
  try {
    await run();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return warnings;
}

describe('options are validated once, at construction, with the fix in the message', () => {
  it.each([
    [{ template: './views' }, /gatewayErrors\(\) has no option "template"\. Did you mean "templates"\?/],
    [{ local: {} }, /has no option "local"\. Did you mean "locals"\?/],
    [
      { templates: './no/such/dir' },
      /templates directory "\.\/no\/such\/dir" not found \(resolved to .*no\/such\/dir from /,
    ],
    [{ templates: 42 }, /templates must be the path of a directory, got 42/],
    [{ locals: 'Acme' }, /locals must be an object, such as \{ siteName: 'Acme'/],
    [{ locals: { siteName: 3 } }, /locals\.siteName must be a string/],
    [
      { locals: { logoUrl: 'https://cdn.example/logo.png' } },
      /logoUrl must be a data:image\/\.\.\. URL: .* inline the logo/,
    ],
    [{ locals: { logoUrl: 'data:text/html,<script>' } }, /logoUrl must be a data:image/],
    [
      { locals: { homeUrl: 'javascript:alert(1)' } },
      /locals\.homeUrl must be a path or an http\(s\) URL, got "javascript:alert\(1\)"/,
    ],
    [{ locals: { statusPageUrl: 'data:text/html,x' } }, /locals\.statusPageUrl must be a path or an http\(s\) URL/],
    [
      { locals: { contactUrl: 'javascript:void(0)' } },
      /locals\.contactUrl must be a mailto:, tel: or http\(s\) URL, or a path/,
    ],
    [{ development: 'yes' }, /development must be a boolean, such as development: true; got string/],
    [{ trustRequestId: 1 }, /trustRequestId must be a boolean/],
    [{ allErrors: 'true' }, /allErrors must be a boolean/],
    [{ render: 'page.html' }, /render must be a function, such as \(failure, request\) =>/],
    [{ nonce: 'abc' }, /nonce must be a function, such as \(req, res\) => res\.locals\.cspNonce/],
    [{ proxyName: '' }, /proxyName must be a non-empty string/],
    [
      { problemTypeBase: '/problems/' },
      /problemTypeBase must be an absolute URI, such as "https:\/\/example\.com\/problems\/"/,
    ],
    [{ retryAfter: { hint: -1 } }, /retryAfter\.hint must be a whole number of seconds/],
    [{ defaultLocale: 'xx' }, /defaultLocale "xx" has no messages/],
  ])('%j', (options, message) => {
    expect(() => createErrorResponder(options as never)).toThrow(message);
  });

  it('accepts every documented local', () => {
    const responder = createErrorResponder({
      locals: {
        siteName: 'Acme',
        logoUrl: 'data:image/png;base64,iVBORw0KGgo=',
        homeUrl: '/',
        statusPageUrl: 'https://status.acme.example',
        contactUrl: 'tel:+15555550100',
        anythingElse: { shown: 'as page.locals.anythingElse' },
      },
    });
    expect(responder.settings.locals).toEqual({ anythingElse: { shown: 'as page.locals.anythingElse' } });
    expect(Object.isFrozen(responder.settings)).toBe(true);
  });
});

describe('handle()', () => {
  it('answers a gateway failure from a real refused fetch, with nothing internal in production', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const target = upstream.url;
    const port = String(upstream.port);
    const responder = createErrorResponder({ development: false });
    const url = await serve((req, res) => {
      fetch(target).then(
        () => res.end('unexpected'),
        (error: unknown) => {
          if (!responder.handle(error, req, res)) res.end('not handled');
        },
      );
    });
    for (const accept of [browser, 'application/json', '*/*']) {
      const res = await fetch(url, { headers: { accept } });
      const body = await res.text();
      expect(res.status).toBe(502);
      expect(res.headers.get('proxy-status')).toBe('gateway-errors; error=connection_refused');
      for (const leak of ['127.0.0.1', `:${port}`, 'fetch failed', 'ECONNREFUSED', 'TypeError', ' at ']) {
        expect(body).not.toContain(leak);
        res.headers.forEach((value) => {
          expect(value).not.toContain(leak);
        });
      }
    }
  });

  it('shows the same failure’s diagnostics, escaped, in development', async () => {
    upstream = await servers.stopAfter(refusingUpstream());
    const target = upstream.url;
    const responder = createErrorResponder({ development: true });
    const url = await serve((req, res) => {
      fetch(target).catch((error: unknown) => responder.handle(error, req, res));
    });
    const body = await (await fetch(url, { headers: { accept: browser } })).text();
    expect(body).toContain(
      '<dt>Cause</dt><dd><code>TypeError: fetch failed ← Error [ECONNREFUSED]: connect ECONNREFUSED',
    );
  });

  it('passes on what is not a gateway failure, unless allErrors', async () => {
    const plain = createErrorResponder();
    const all = createErrorResponder({ allErrors: true });
    const errors: Record<string, unknown> = {
      '/bug': new Error('bug'),
      '/missing': Object.assign(new Error('missing'), { status: 404 }),
      '/not-implemented': Object.assign(new Error('not implemented'), { statusCode: 501 }),
      '/unavailable': new ServiceUnavailableError({ retryAfter: 9 }),
    };
    const url = await serve((req, res) => {
      const [, which, path] = /^\/(plain|all)(\/.*)$/.exec(req.url ?? '') ?? [];
      const responder = which === 'all' ? all : plain;
      if (!responder.handle(errors[path ?? ''], req, res)) {
        res.statusCode = 418;
        res.end('passed on');
      }
    });
    const statusOf = async (path: string) => (await fetch(`${url}${path}`)).status;
    expect(await statusOf('/plain/bug')).toBe(418);
    expect(await statusOf('/plain/missing')).toBe(418);
    expect(await statusOf('/plain/not-implemented')).toBe(418);
    expect(await statusOf('/plain/unavailable')).toBe(503);
    expect(await statusOf('/all/bug')).toBe(500);
    expect(await statusOf('/all/missing')).toBe(418);
    expect(await statusOf('/all/not-implemented')).toBe(501);
    const unavailable = await fetch(`${url}/all/unavailable`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('9');
    // The error's own message never reaches the page.
    expect(await (await fetch(`${url}/all/bug`)).text()).not.toContain('bug');
  });
});

describe('the render hook', () => {
  const failure = failureOf('connection_refused');
  const render = (responder: ErrorResponder, headers: Record<string, string> = {}) =>
    responder.render(failure, { headers } as never);

  it('takes full control: its status, headers and body, over our required headers', () => {
    let seen: RenderRequest | undefined;
    const responder = createErrorResponder({
      render: (given, request) => {
        seen = request;
        expect(given).toBe(failure);
        return {
          status: 503,
          headers: { 'Content-Type': 'text/html; charset=utf-8', 'X-Page': 'custom', 'Retry-After': 60 },
          body: `<p>Down (${request.requestId}) — try ${request.retryAfter}s</p>`,
        };
      },
    });
    const { status, headers, body } = render(responder, {
      accept: browser,
      'accept-language': 'fr',
      'x-request-id': 'r1',
    });
    expect(status).toBe(503);
    expect(body).toBe('<p>Down (r1) — try 5s</p>');
    expect(headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-page': 'custom',
      'retry-after': '60',
      'cache-control': 'no-store',
      vary: 'Accept, Accept-Language',
      'x-robots-tag': 'noindex',
      'x-request-id': 'r1',
      'proxy-status': 'gateway-errors; error=connection_refused',
    });
    expect(seen).toMatchObject({ format: 'html', locale: 'fr', requestId: 'r1', retryAfter: 5, nonce: undefined });
  });

  it('adjusts the default rendering, or declines with undefined', () => {
    const responder = createErrorResponder({
      render: (_failure, { format, defaultRender }) => {
        if (format !== 'html') return undefined;
        const page = defaultRender();
        return { ...page, body: page.body.replace('</main>', '<p>Status: see our feed.</p></main>') };
      },
    });
    const html = render(responder, { accept: browser });
    expect(html.status).toBe(502);
    expect(html.body).toContain('<p>Status: see our feed.</p></main>');
    expect(html.headers['content-length']).toBe(String(Buffer.byteLength(html.body)));
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    const text = render(responder, { accept: '*/*' });
    expect(text.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(text.body).toContain('502 Bad Gateway');
  });

  it('gets the negotiated content type when it names none', () => {
    const responder = createErrorResponder({ render: () => ({ status: 502, body: '{"oops":true}' }) });
    expect(render(responder, { accept: 'application/json' }).headers['content-type']).toBe(
      'application/problem+json; charset=utf-8',
    );
  });

  it('cannot answer 200 or redirect: the failure’s status is kept, with a warning', async () => {
    const responder = createErrorResponder({
      render: () => ({ status: 302, headers: { location: '/error.html' }, body: 'moved' }),
    });
    const warnings = await warningsOf(() => {
      expect(render(responder).status).toBe(502);
      expect(render(responder).status).toBe(502);
    });
    expect(warnings).toEqual([
      'gateway-errors: the render hook returned status 302; an error response keeps an error status, so 502 was sent. See https://github.com/gateway-errors/gateway-errors/blob/main/docs/warnings.md#gateway_errors_render',
    ]);
  });

  it('falls back to the default page when it throws or returns something else, and warns once', async () => {
    const throwing = createErrorResponder({
      render: () => {
        throw new Error('template missing');
      },
    });
    const wrong = createErrorResponder({ render: (() => Promise.resolve({ status: 502, body: 'x' })) as never });
    const warnings = await warningsOf(() => {
      for (const responder of [throwing, throwing, wrong]) {
        const { status, body } = render(responder, { accept: browser });
        expect(status).toBe(502);
        expect(body).toContain('<h1>We could not reach the service behind this page</h1>');
      }
    });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('the render hook threw, so the default page was sent: template missing');
    expect(warnings[1]).toContain('the render hook must return { status, headers, body }');
  });

  it('serves different pages per route, with one responder per route', async () => {
    const api = createErrorResponder({
      render: (failure, { requestId }) => ({
        status: failure.status,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: failure.type, requestId }),
      }),
    });
    const site = createErrorResponder({ locals: { siteName: 'Acme' } });
    const url = await serve((req, res) => {
      const responder = req.url?.startsWith('/api/') ? api : site;
      responder.send(failureOf('http_response_timeout'), req, res);
    });
    const fromApi = await fetch(`${url}/api/orders`, { headers: { accept: browser, 'x-request-id': 'q1' } });
    expect(fromApi.status).toBe(504);
    expect(await fromApi.json()).toEqual({ error: 'http_response_timeout', requestId: 'q1' });
    const fromSite = await fetch(`${url}/shop`, { headers: { accept: browser } });
    expect(fromSite.status).toBe(504);
    expect(await fromSite.text()).toContain('<span>Acme</span>');
  });

  it('is also used for HEAD, without the body', async () => {
    const responder = createErrorResponder({ render: () => ({ status: 503, body: 'custom body' }) });
    const url = await serve((req, res) => responder.send(failure, req, res));
    const res = await fetch(url, { method: 'HEAD' });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-length')).toBe('11');
    expect(await res.text()).toBe('');
  });
});

describe('the CSP nonce', () => {
  it('is read from the Content-Security-Policy already on the response, as helmet sets it', async () => {
    const responder = createErrorResponder();
    const url = await serve((req, res) => {
      res.setHeader(
        'Content-Security-Policy',
        "default-src 'self'; script-src 'self' 'nonce-R4nd0m+/Nonce=='; style-src 'self' 'nonce-R4nd0m+/Nonce=='",
      );
      responder.send(failureOf('connection_refused'), req, res);
    });
    const res = await fetch(url, { headers: { accept: browser } });
    const body = await res.text();
    expect(res.headers.get('content-security-policy')).toContain("'nonce-R4nd0m+/Nonce=='");
    expect(body).toContain('<style nonce="R4nd0m+/Nonce==">');
    expect(body).toContain('<script nonce="R4nd0m+/Nonce==">');
  });

  it('is read from a report-only policy too', async () => {
    const responder = createErrorResponder();
    const url = await serve((req, res) => {
      res.setHeader('Content-Security-Policy-Report-Only', "script-src 'nonce-abc123'");
      responder.send(failureOf('connection_refused'), req, res);
    });
    expect(await (await fetch(url, { headers: { accept: browser } })).text()).toContain('<script nonce="abc123">');
  });

  it('comes from the nonce option when given, per request, and reaches the render hook', async () => {
    let counter = 0;
    let hookNonce: string | undefined;
    const responder = createErrorResponder({ nonce: () => `n${++counter}` });
    const hooked = createErrorResponder({
      nonce: (req) => String(req.headers['x-test-nonce']),
      render: (_failure, request) => {
        hookNonce = request.nonce;
        return undefined;
      },
    });
    const url = await serve((req, res) =>
      (req.url === '/hook' ? hooked : responder).send(failureOf('connection_refused'), req, res),
    );
    expect(await (await fetch(url, { headers: { accept: browser } })).text()).toContain('<script nonce="n1">');
    expect(await (await fetch(url, { headers: { accept: browser } })).text()).toContain('<script nonce="n2">');
    await fetch(`${url}/hook`, { headers: { accept: browser, 'x-test-nonce': 'hooknonce' } });
    expect(hookNonce).toBe('hooknonce');
  });

  it('is left out when absent', async () => {
    const responder = createErrorResponder();
    const { body } = responder.render(declaredFailure(502), { headers: { accept: browser } } as never);
    expect(body).toContain('<script>');
    expect(body).not.toContain('nonce');
  });
});
