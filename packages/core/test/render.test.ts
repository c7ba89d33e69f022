import type { IncomingMessage } from 'node:http';
import { createErrorResponder, type ErrorResponseOptions, type GatewayFailure } from '@gateway-errors/core';
import { declaredFailure, failureOf } from '@gateway-errors/core/unstable-internals';
import { describe, expect, it } from 'vitest';

const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** A request as the responder reads it: headers only. */
function req(headers: Record<string, string> = {}): IncomingMessage {
  return { headers } as IncomingMessage;
}

function render(failure: GatewayFailure, headers: Record<string, string> = {}, options: ErrorResponseOptions = {}) {
  return createErrorResponder(options).render(failure, req(headers));
}

/** A failure as the proxy reports it, full of internals that must not reach a visitor in production. */
const internal = failureOf('connection_refused', {
  code: 'ECONNREFUSED',
  upstream: 'http://10.1.2.3:4567',
  timings: { dns: 0.25, connect: 1.5 },
  cause: Object.assign(new Error('fetch failed'), {
    cause: Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:4567'), { code: 'ECONNREFUSED' }),
  }),
});
const leaks = ['10.1.2.3', '4567', 'fetch failed', 'ECONNREFUSED', 'connect ', ' at ', 'Error:', '.ts:', '.js:'];

describe('every generated error carries the required headers', () => {
  it.each([
    ['html', browser, 'text/html; charset=utf-8'],
    ['problem', 'application/json', 'application/problem+json; charset=utf-8'],
    ['text', '*/*', 'text/plain; charset=utf-8'],
  ])('%s', (_format, accept, type) => {
    const { status, headers, body } = render(failureOf('connection_refused'), { accept, 'accept-language': 'ja' });
    expect(status).toBe(502);
    expect(headers['content-type']).toBe(type);
    // In bytes, not characters: the Japanese page is multi-byte.
    expect(headers['content-length']).toBe(String(Buffer.byteLength(body)));
    expect(headers['cache-control']).toBe('no-store');
    expect(headers.vary).toBe('Accept, Accept-Language');
    expect(headers['x-robots-tag']).toBe('noindex');
    expect(headers['retry-after']).toBe('5');
    expect(headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    if (accept !== 'application/json') expect(headers['content-language']).toBe('ja');
  });

  it.each([
    ['dns_error', 502],
    ['dns_timeout', 504],
    ['connection_timeout', 504],
    ['tls_certificate_error', 502],
    ['http_response_timeout', 504],
    ['destination_unavailable', 503],
    ['connection_limit_reached', 503],
    ['proxy_internal_response', 503],
  ] as const)('%s: status %i, the same in the problem body', (type, status) => {
    const rendered = render(failureOf(type), { accept: 'application/problem+json' });
    expect(rendered.status).toBe(status);
    expect(JSON.parse(rendered.body).status).toBe(status);
    expect(rendered.headers['proxy-status']).toBe(`gateway-errors; error=${type}`);
  });

  it.each([200, 204, 301, 302, 304, 399, 600, 99, Number.NaN, 502.5])(
    'never answers %s: a declared non-error status becomes 500',
    (declared) => {
      for (const accept of [browser, 'application/json', '*/*']) {
        const rendered = render(declaredFailure(declared), { accept });
        expect(rendered.status).toBe(500);
      }
      expect(JSON.parse(render(declaredFailure(declared), { accept: 'application/json' }).body).status).toBe(500);
    },
  );

  it('keeps a declared error status, and passes an upstream 5xx on with received-status', () => {
    const rendered = render(declaredFailure(507, { receivedStatus: 507, retryAfter: 30 }), { accept: browser });
    expect(rendered.status).toBe(507);
    expect(rendered.headers['proxy-status']).toBe('gateway-errors; received-status=507');
    expect(rendered.headers['retry-after']).toBe('30');
    expect(rendered.body).toContain('<title>507 Something went wrong</title>');
  });

  it('sends no Retry-After or Proxy-Status for a plain 500, and no countdown script on its page', () => {
    const { headers, body } = render(declaredFailure(500), { accept: browser });
    expect(headers['retry-after']).toBeUndefined();
    expect(headers['proxy-status']).toBeUndefined();
    expect(body).not.toContain('<script');
    expect(body).toContain('Please try again in a few moments.');
  });

  it('clamps Retry-After into the policy, and says a long wait in hours', () => {
    const long = render(failureOf('proxy_internal_response', { retryAfter: 7200 }), { accept: browser });
    expect(long.headers['retry-after']).toBe('7200');
    expect(long.body).toContain('Please try again in 2 hours.');
    const clamped = render(
      failureOf('proxy_internal_response', { retryAfter: 10 ** 9 }),
      { accept: '*/*' },
      { retryAfter: { max: 600 } },
    );
    expect(clamped.headers['retry-after']).toBe('600');
    expect(render(failureOf('dns_error'), {}, { retryAfter: { hint: 2 } }).headers['retry-after']).toBe('2');
  });
});

describe('the default page', () => {
  const page = (failure: GatewayFailure = failureOf('connection_refused'), options: ErrorResponseOptions = {}) =>
    render(failure, { accept: browser, 'x-request-id': 'req-42' }, options).body;

  it('says what happened, that it is not the visitor’s fault, that it is temporary, and when to retry', () => {
    const body = page();
    expect(body).toMatch(/^<!doctype html>\n<html lang="en" dir="ltr">/);
    expect(body).toContain('<meta name="robots" content="noindex, nofollow">');
    expect(body).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(body).toContain('<title>502 Bad Gateway</title>');
    expect(body).toContain('<h1>We could not reach the service behind this page</h1>');
    expect(body).toContain('This is usually temporary.');
    expect(body).toContain('This is not a problem with your device or your connection.');
    expect(body).toContain('data-retry-after="5"');
    expect(body).toContain('>Please try again in 5 seconds.</p>');
    // The retry link reloads this very URL, without JavaScript, and without echoing the path into the page.
    expect(body).toContain('<a class="button" href="">Try again</a>');
    expect(body).toContain('Reference: <code>req-42</code>');
    expect(body).toContain('<a href="/">Go to the home page</a>');
    expect(body).toMatch(/<main>[\s\S]*<h1>[\s\S]*<\/main>/);
    expect(body).toContain('<footer>');
    // No header landmark when there is nothing to put in it.
    expect(body).not.toContain('<header>');
  });

  it('is rendered once per distinct page and kept: each visitor still gets their own reference', () => {
    const responder = createErrorResponder();
    const one = responder.render(failureOf('connection_refused'), req({ accept: browser, 'x-request-id': 'req-1' }));
    const two = responder.render(failureOf('connection_refused'), req({ accept: browser, 'x-request-id': 'req-2' }));
    expect(one.body).toContain('Reference: <code>req-1</code>');
    expect(two.body).toBe(one.body.replace('req-1', 'req-2'));
    expect(two.headers['content-length']).toBe(String(Buffer.byteLength(two.body)));
    // A kept page is never another page's: the language, the status and the wait all tell them apart.
    const french = responder.render(
      failureOf('connection_timeout', { retryAfter: 30 }),
      req({ accept: browser, 'accept-language': 'fr', 'x-request-id': 'req-3' }),
    );
    expect(french.body).toContain('<html lang="fr"');
    expect(french.body).toContain('<title>504 ');
    expect(french.body).toContain('data-retry-after="30"');
    expect(french.body).toContain('<code>req-3</code>');
    // Development pages show each failure's own diagnostics: never kept.
    const development = createErrorResponder({ development: true });
    const to = (upstream: string) =>
      development.render(failureOf('connection_refused', { upstream }), req({ accept: browser })).body;
    expect(to('http://10.0.0.1:1')).toContain('http://10.0.0.1:1');
    expect(to('http://10.0.0.2:2')).toContain('http://10.0.0.2:2');
  });

  it.each([
    ['en', 'Reference: '],
    ['fr', 'Référence\u202f: '],
    ['ja', '参照番号：'],
    ['zh', '参考编号：'],
  ])('%s puts the reference label and its colon the way the language does', (language, label) => {
    const headers = { 'accept-language': language, 'x-request-id': 'req-7' };
    const html = render(failureOf('connection_refused'), { ...headers, accept: browser }).body;
    expect(html).toContain(`${label}<code>req-7</code>`);
    const text = render(failureOf('connection_refused'), { ...headers, accept: 'text/plain' }).body;
    expect(text).toContain(`${label}req-7\n`);
  });

  it('never reloads by itself: the script only counts down', () => {
    const body = page();
    expect(body).not.toMatch(/http-equiv="refresh"|location\.reload|location\.href\s*=|location\.assign/);
  });

  it.each([
    ['502', failureOf('connection_refused'), 'We could not reach the service behind this page'],
    ['503', failureOf('destination_unavailable', { retryAfter: 20 }), 'This service is temporarily unavailable'],
    ['503 maintenance', failureOf('proxy_internal_response', { retryAfter: 600 }), 'We are doing some planned'],
    ['504', failureOf('http_response_timeout'), 'The service behind this page took too long to answer'],
    ['generic', declaredFailure(500), 'Something went wrong on our side'],
  ])('%s is self-contained and under 16 KB, in every language', (_name, failure, heading) => {
    expect(page(failure)).toContain(heading);
    for (const language of ['en', 'es', 'fr', 'de', 'pt', 'ja', 'zh']) {
      const { body } = render(failure, { accept: browser, 'accept-language': language });
      expect(Buffer.byteLength(body)).toBeLessThan(16 * 1024);
      // Nothing fetched from anywhere: no stylesheet, script, image, font or frame by URL.
      expect(body).not.toMatch(/<link[^>]+rel="?stylesheet|<script[^>]+src=|<img[^>]+src="?(?!data:)|<iframe/i);
      expect(body).not.toMatch(/url\(|@import|@font-face/i);
      expect(body).not.toMatch(/(?:src|href)="(?:https?:)?\/\//i);
      // The favicon request a browser would send to the failing origin is headed off.
      expect(body).toContain('<link rel="icon" href="data:,">');
    }
  });

  it('shows the site’s name, logo and links when given, and only then', () => {
    const logo = 'data:image/svg+xml;base64,PHN2Zy8+';
    const body = page(undefined, {
      locals: {
        siteName: 'Acme',
        logoUrl: logo,
        homeUrl: 'https://acme.example/',
        statusPageUrl: 'https://status.acme.example/',
        contactUrl: 'mailto:help@acme.example',
      },
    });
    expect(body).toContain('<title>502 Bad Gateway · Acme</title>');
    expect(body).toContain(`<header>\n<a href="https://acme.example/"><img src="${logo}" alt=""><span>Acme</span></a>`);
    expect(body).toContain('<a href="https://status.acme.example/">Check the service status</a>');
    expect(body).toContain('<a href="mailto:help@acme.example">Contact support</a>');
    const bare = page();
    expect(bare).not.toContain('Check the service status');
    expect(bare).not.toContain('Contact support');
    // A logo alone is a link home: its alternative text says so.
    expect(page(undefined, { locals: { logoUrl: logo } })).toContain(`<img src="${logo}" alt="Go to the home page">`);
  });

  it('puts the nonce on the inline style and script', () => {
    const responder = createErrorResponder({ nonce: () => 'cmFuZG9tLW5vbmNl' });
    const { body } = responder.render(failureOf('connection_refused'), req({ accept: browser }));
    expect(body).toContain('<style nonce="cmFuZG9tLW5vbmNl">');
    expect(body).toContain('<script nonce="cmFuZG9tLW5vbmNl">');
    expect(page()).toMatch(/<style>[\s\S]*<script>/);
  });

  it('gives each request its own nonce and reference on a kept page', () => {
    let n = 0;
    const nonces = ['Zmlyc3Q=', 'c2Vjb25k'];
    const responder = createErrorResponder({ nonce: () => nonces[n++ % 2] });
    const bodies = ['req-a', 'req-b'].map(
      (id) => responder.render(failureOf('connection_refused'), req({ accept: browser, 'x-request-id': id })).body,
    );
    expect(bodies[0]).toContain('<style nonce="Zmlyc3Q=">');
    expect(bodies[0]).toContain('<script nonce="Zmlyc3Q=">');
    expect(bodies[0]).toContain('<code>req-a</code>');
    expect(bodies[1]).toBe(
      (bodies[0] as string).replaceAll('Zmlyc3Q=', 'c2Vjb25k').replace('<code>req-a</code>', '<code>req-b</code>'),
    );
  });
});

describe('production shows nothing internal', () => {
  it.each([
    ['html', browser],
    ['problem', 'application/json'],
    ['text', '*/*'],
  ])('%s', (_name, accept) => {
    // A fixed reference: a random one can contain a leak's digits (a port such as 4567) by chance.
    const { body, headers } = render(internal, { accept, 'x-request-id': 'support-ref-1' }, { development: false });
    expect(body).toContain('support-ref-1');
    for (const leak of leaks) expect(body).not.toContain(leak);
    for (const value of Object.values(headers)) for (const leak of leaks) expect(value).not.toContain(leak);
    expect(body).not.toContain('Diagnostics');
    expect(body).not.toContain('diagnostics');
  });
});

describe('development mode', () => {
  it('adds the diagnostics panel: type, phase, timings, upstream, cause chain', () => {
    const { body, headers } = render(internal, { accept: browser }, { development: true });
    expect(body).toContain('<h2 id="diagnostics-heading">Diagnostics (development mode only)</h2>');
    expect(body).toContain('<dt>Error type</dt><dd><code>connection_refused</code></dd>');
    expect(body).toContain('<dt>Phase</dt><dd><code>connect</code></dd>');
    expect(body).toContain('<dt>Upstream</dt><dd><code>http://10.1.2.3:4567</code></dd>');
    expect(body).toContain('<dt>Timings (ms)</dt><dd><code>dns 0.3, connect 1.5</code></dd>');
    expect(body).toContain(
      '<dt>Cause</dt><dd><code>Error: fetch failed ← Error [ECONNREFUSED]: connect ECONNREFUSED 10.1.2.3:4567</code></dd>',
    );
    expect(headers['proxy-status']).toBe(
      'gateway-errors; error=connection_refused; details="Error: fetch failed ? Error [ECONNREFUSED]: connect ECONNREFUSED 10.1.2.3:4567"',
    );
  });

  it('adds diagnostics to problem+json and text too', () => {
    const problem = JSON.parse(render(internal, { accept: 'application/json' }, { development: true }).body);
    expect(problem.diagnostics).toMatchObject({ 'Error type': 'connection_refused', Upstream: 'http://10.1.2.3:4567' });
    const text = render(internal, { accept: '*/*' }, { development: true }).body;
    expect(text).toContain('\nUpstream: http://10.1.2.3:4567\n');
  });

  it('follows NODE_ENV=development unless told otherwise', () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'development';
    try {
      expect(render(internal, { accept: '*/*' }).body).toContain('Upstream: http://10.1.2.3:4567');
      expect(render(internal, { accept: '*/*' }, { development: false }).body).not.toContain('10.1.2.3');
    } finally {
      process.env.NODE_ENV = before;
    }
  });
});

/** C0 controls other than tab and line breaks, and DEL to the C1 range: none may reach a body. */
function controlCharacters(text: string): string[] {
  return [...text].filter((char) => {
    const code = char.charCodeAt(0);
    return (code < 0x20 && char !== '\n' && char !== '\t' && char !== '\r') || (code >= 0x7f && code <= 0x9f);
  });
}

describe('hostile input is escaped wherever it reaches a page', () => {
  const hostile = `</script><script>alert("x")</script>'"&<b>`;
  const hostileCause = Object.assign(new Error(`${hostile}\u0000\u001b[31m\nUpstream: forged line`), {
    code: '"><img src=x onerror=alert(1)>',
  });
  const failure = failureOf('http_protocol_error', {
    cause: hostileCause,
    code: '<svg onload=alert(1)>',
    upstream: 'http://"><script>alert(1)</script>',
  });

  function assertInert(body: string) {
    // The only script is ours; no tag, attribute or entity from the input survives unescaped.
    expect(body.match(/<script/g)?.length ?? 0).toBeLessThanOrEqual(1);
    expect(body).not.toContain('<b>');
    expect(body).not.toContain('<img src=x');
    expect(body).not.toContain('<svg onload');
    expect(body).not.toContain('alert("x")</script>');
    expect(controlCharacters(body)).toEqual([]);
  }

  it('in the diagnostics panel: cause messages with </script>, quotes and control characters', () => {
    const { body, headers } = render(failure, { accept: browser }, { development: true });
    assertInert(body);
    expect(body).toContain('&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&#34;&amp;&lt;b&gt;');
    expect(body).toContain('\\u0000\\u001b[31m\\u000aUpstream: forged line');
    // Proxy-Status details stay a valid sf-string: printable ASCII, quotes escaped.
    expect(headers['proxy-status']).toMatch(/^gateway-errors; error=http_protocol_error; details="[\x20-\x7e]*"$/);
  });

  it('in the text format: a value cannot forge a line', () => {
    const { body } = render(failure, { accept: '*/*' }, { development: true });
    expect(body).not.toMatch(/^Upstream: forged line/m);
    expect(controlCharacters(body)).toEqual([]);
  });

  it('in problem+json: still valid JSON holding the same text', () => {
    const { body } = render(failure, { accept: 'application/json' }, { development: true });
    expect(JSON.parse(body).diagnostics.Code).toBe('<svg onload=alert(1)>');
  });

  it('in the request id: a hostile one is replaced, never echoed', () => {
    for (const id of [hostile, 'a b', 'x'.repeat(200), 'id\u0000', '-leading-dash', 'ünï', '']) {
      const { body, headers } = render(failureOf('connection_refused'), { accept: browser, 'x-request-id': id });
      assertInert(body);
      expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(body).toContain(`<code>${headers['x-request-id']}</code>`);
    }
    const safe = 'Root=1-67891233-abcdef012345678912345678';
    expect(render(failureOf('connection_refused'), { 'x-request-id': safe }).headers['x-request-id']).toBe(safe);
  });

  it('in locals and message overrides', () => {
    const { body } = render(
      failureOf('connection_refused'),
      { accept: browser },
      {
        locals: { siteName: hostile, homeUrl: `/"><script>alert(1)</script>`, statusPageUrl: `/?q='onmouseover='x` },
        messages: { en: { retryNow: hostile, badGateway: { heading: hostile }, retryIn: `${hostile} {time}` } },
      },
    );
    assertInert(body);
    expect(body).toContain('<title>502 Bad Gateway · &lt;/script&gt;');
    expect(body).toContain('<a href="/&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">');
    expect(body).toContain('<a href="/?q=&#39;onmouseover=&#39;x">');
    expect(body).toContain(`data-template="&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)`);
  });

  it('in a CSP nonce: anything but base64 is dropped', () => {
    const warnings: string[] = [];
    const listener = (warning: Error) => warnings.push(warning.message);
    process.on('warning', listener);
    try {
      const responder = createErrorResponder({ nonce: () => `"><script>alert(1)</script>` });
      const { body } = responder.render(failureOf('connection_refused'), req({ accept: browser }));
      assertInert(body);
      expect(body).toContain('<script>\n');
    } finally {
      process.off('warning', listener);
    }
  });
});

describe('problem+json (RFC 9457)', () => {
  it('has type, title, status, detail and our extensions', () => {
    const { body } = render(failureOf('connection_timeout'), {
      accept: 'application/problem+json',
      'x-request-id': 'abc',
    });
    expect(JSON.parse(body)).toEqual({
      type: 'about:blank',
      title: 'Gateway Timeout',
      status: 504,
      detail: 'Our server waited for another service, but it did not answer in time. This is usually temporary.',
      errorType: 'connection_timeout',
      retryAfter: 5,
      requestId: 'abc',
    });
  });

  it('builds the type from problemTypeBase, and the detail in the client’s language', () => {
    const { body } = render(
      failureOf('dns_error'),
      { accept: 'application/json', 'accept-language': 'de' },
      { problemTypeBase: 'https://example.com/problems/' },
    );
    expect(JSON.parse(body)).toMatchObject({
      type: 'https://example.com/problems/dns_error',
      title: 'Bad Gateway',
      detail: expect.stringContaining('Unser Server'),
    });
  });
});

describe('text/plain', () => {
  it('reads like the page', () => {
    const { body } = render(failureOf('connection_refused'), { accept: '*/*', 'x-request-id': 'abc' });
    expect(body).toBe(
      [
        '502 Bad Gateway',
        '',
        'We could not reach the service behind this page',
        'Our server asked another service for this page, but it did not answer properly. This is usually temporary.',
        'This is not a problem with your device or your connection.',
        'Please try again in 5 seconds.',
        '',
        'Reference: abc',
        '',
      ].join('\n'),
    );
  });
});
