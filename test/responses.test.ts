import { connect } from 'node:net';
import { echoUpstream, refusingUpstream } from '@gateway-errors/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters, appErrorHandlerBody } from './adapters.js';
import { expectError, harness, htmlAccept, jsonAccept, uuid } from './harness.js';

// What a generated error response looks like, whichever adapter wrote it.
describe.each(adapters)('$name: the error response', (adapter) => {
  const h = harness(adapter);
  const refused = { status: 502, type: 'connection_refused' } as const;

  it.each([
    ['a browser', htmlAccept, 'html'],
    ['an API client', jsonAccept, 'problem'],
    ['a problem+json client', 'application/problem+json', 'problem'],
    ['curl (*/*)', '*/*', 'text'],
    ['no Accept at all', undefined, 'text'],
    ['a client that accepts none of ours', 'image/png', 'text'],
  ] as const)('negotiates the format for %s', async (_who, accept, format) => {
    const { url } = await h.gateway(refusingUpstream);
    const req = request(url).get('/api/x');
    const res = await (accept === undefined ? req : req.set('Accept', accept));
    expectError(res, { ...refused, format });
  });

  it('answers HEAD with every header of the GET and no body', async () => {
    const { url } = await h.gateway(refusingUpstream);
    const get = await request(url).get('/api/x').set('Accept', htmlAccept);
    const head = await request(url).head('/api/x').set('Accept', htmlAccept);
    expectError(head, { ...refused, format: 'html' });
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
  });

  it('speaks the language the client asks for', async () => {
    const { url } = await h.gateway(refusingUpstream);
    const res = await request(url).get('/api/x').set('Accept-Language', 'fr-CH, fr;q=0.9, en;q=0.5');
    expect(res.status).toBe(502);
    expect(res.headers['content-language']).toBe('fr');
    expect(res.text.startsWith('502 Bad Gateway\n\n')).toBe(true);
    expect(res.text).not.toContain('Please try again');
  });

  it('keeps security and CORS headers set by earlier middleware, and removes a stale ETag and Last-Modified', async () => {
    const earlyHeaders = {
      'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
      'Content-Security-Policy': "default-src 'self'",
      'X-Content-Type-Options': 'nosniff',
      'Access-Control-Allow-Origin': 'https://app.example',
      'Access-Control-Expose-Headers': 'Retry-After, X-Request-Id',
      ETag: '"stale-page"',
      'Last-Modified': 'Wed, 21 Oct 2015 07:28:00 GMT',
      Vary: 'Origin',
    };
    const { url } = await h.gateway(refusingUpstream, {}, { earlyHeaders });
    const res = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(res, { ...refused, format: 'problem' });
    expect(res.headers).toMatchObject({
      'strict-transport-security': 'max-age=63072000; includeSubDomains',
      'content-security-policy': "default-src 'self'",
      'x-content-type-options': 'nosniff',
      'access-control-allow-origin': 'https://app.example',
      'access-control-expose-headers': 'Retry-After, X-Request-Id',
    });
    expect(res.headers['last-modified']).toBeUndefined();
    expect(res.headers.vary).toBe('Origin, Accept, Accept-Language');
  });

  it('with trustRequestId, reuses a plain incoming X-Request-Id: sent upstream, echoed and shown in the body', async () => {
    const { url } = await h.gateway(refusingUpstream, { trustRequestId: true });
    const res = await request(url).get('/api/x').set('Accept', jsonAccept).set('X-Request-Id', 'req-42.abc');
    expectError(res, { ...refused, format: 'problem', requestId: 'req-42.abc' });
    expect(res.body.requestId).toBe('req-42.abc');

    const echo = await h.gateway(echoUpstream, { trustRequestId: true });
    const passed = await request(echo.url).get('/api/x').set('X-Request-Id', 'req-42.abc');
    expect(passed.status).toBe(200);
    expect(passed.body.headers['x-request-id']).toBe('req-42.abc');
  });

  it('by default, replaces an incoming X-Request-Id: a client does not choose the id sent upstream', async () => {
    const { url } = await h.gateway(refusingUpstream);
    const res = await request(url).get('/api/x').set('Accept', jsonAccept).set('X-Request-Id', 'req-42.abc');
    expect(res.headers['x-request-id']).toMatch(uuid);
    expect(res.body.requestId).toBe(res.headers['x-request-id']);

    const echo = await h.gateway(echoUpstream);
    const passed = await request(echo.url).get('/api/x').set('X-Request-Id', 'req-42.abc');
    expect(passed.body.headers['x-request-id']).toMatch(uuid);
  });

  it('replaces an incoming X-Request-Id that could smuggle markup', async () => {
    const { url } = await h.gateway(refusingUpstream);
    const res = await request(url).get('/api/x').set('Accept', htmlAccept).set('X-Request-Id', '<script>x</script>');
    expectError(res, { ...refused, format: 'html', secrets: ['<script>x'] });
    expect(res.headers['x-request-id']).toMatch(uuid);
  });

  it('renders proxy failures with the options of gatewayErrors()', async () => {
    const errors = { proxyName: 'edge', locals: { statusPageUrl: 'https://status.example' }, retryAfter: { hint: 30 } };
    const { url } = await h.gateway(refusingUpstream, {}, { errors });
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { ...refused, format: 'html', proxyName: 'edge', retryAfter: 30 });
    expect(res.text).toContain('href="https://status.example"');
  });

  it('shows locals.siteName on the page', async () => {
    const { url } = await h.gateway(refusingUpstream, {}, { errors: { locals: { siteName: 'Acme <Shop>' } } });
    const res = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(res, { ...refused, format: 'html' });
    expect(res.text).toContain('<title>502 Bad Gateway · Acme &lt;Shop&gt;</title>');
    expect(res.text).not.toContain('<Shop>');
  });

  it('gatewayProxy() answers itself with the defaults when no gatewayErrors() is mounted', async () => {
    const { url, passedOn } = await h.gateway(refusingUpstream, {}, { errors: false });
    const html = await request(url).get('/api/x').set('Accept', htmlAccept);
    expectError(html, { ...refused, format: 'html' });
    const problem = await request(url).get('/api/x').set('Accept', jsonAccept);
    expectError(problem, { ...refused, format: 'problem' });
    const head = await request(url).head('/api/x');
    expectError(head, { ...refused, format: 'text' });
    expect(passedOn).toEqual([]);
  });

  it('gatewayProxy() keeps earlier headers when it answers with the defaults', async () => {
    const earlyHeaders = { 'Access-Control-Allow-Origin': '*', ETag: '"stale"' };
    const { url } = await h.gateway(refusingUpstream, {}, { errors: false, earlyHeaders });
    const res = await request(url).get('/api/x');
    expectError(res, { ...refused, format: 'text' });
    expect(res.headers['access-control-allow-origin']).toBe('*');
  });
});

// A user's callback that throws or returns what Node cannot send must never leave a client without an answer
// (issue 13, item 8): the failure's own page, one warning, nothing unhandled, in every adapter.
describe.each(adapters)('$name: a user callback that misbehaves', (adapter) => {
  const h = harness(adapter);

  /** Runs `exchange`, collecting process warnings; an unhandled rejection fails it at once instead of a hang. */
  async function watched<T>(exchange: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    let onRejection: ((reason: unknown) => void) | undefined;
    const rejected = new Promise<never>((_resolve, reject) => {
      onRejection = (reason) => reject(new Error(`unhandled rejection: ${String(reason)}`));
    });
    process.on('warning', onWarning);
    process.on('unhandledRejection', onRejection as (reason: unknown) => void);
    try {
      const result = await Promise.race([exchange(), rejected]);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      return { result, warnings };
    } finally {
      process.off('warning', onWarning);
      process.off('unhandledRejection', onRejection as (reason: unknown) => void);
    }
  }

  it('a nonce function that throws: the default page without a nonce, and one warning', async () => {
    const nonce = () => {
      throw new Error('no nonce here');
    };
    const { url, passedOn } = await h.gateway(refusingUpstream, {}, { errors: { nonce } });
    const { result, warnings } = await watched(async () => [
      await request(url).get('/api/x').set('Accept', htmlAccept),
      await request(url).get('/api/x').set('Accept', htmlAccept),
    ]);
    for (const res of result) {
      expectError(res, { status: 502, type: 'connection_refused', format: 'html' });
      expect(res.text).toContain('<script>');
      expect(res.text).not.toContain('nonce');
    }
    expect(warnings).toEqual([
      'gateway-errors: the nonce function threw, so the page carries no nonce: no nonce here. See https://github.com/gateway-errors/gateway-errors/blob/main/docs/warnings.md#gateway_errors_render',
    ]);
    expect(passedOn).toEqual([]);
  });

  it.each([
    ['a value with a line break', { 'x-note': 'a\r\nSet-Cookie: session=evil' }],
    ['a value with a control byte', { 'x-note': 'a\u0000b' }],
    ['a name that is not a token', { 'x note': 'a' }],
  ])('a render hook that returns a header with %s: the default page and one warning', async (_what, headers) => {
    const render = () => ({ status: 503, headers, body: 'custom page' });
    const { url, passedOn } = await h.gateway(refusingUpstream, {}, { errors: { render } });
    const { result: res, warnings } = await watched(() => request(url).get('/api/x').set('Accept', htmlAccept));
    expectError(res, { status: 502, type: 'connection_refused', format: 'html' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.text).not.toContain('custom page');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^gateway-errors: the render hook returned a header Node cannot send \(.+\), so the default page was sent\. See https:\/\/\S+\/docs\/warnings\.md#gateway_errors_render$/,
    );
    expect(passedOn).toEqual([]);
  });
});

describe.each(adapters)('$name: a render hook cannot reframe the response', (adapter) => {
  const h = harness(adapter);

  /** Sends one request that asks to close, and resolves with every byte (latin1) once the connection ended. */
  function exchange(port: number): Promise<string> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect(port, '127.0.0.1');
      socket.on('connect', () => socket.write('GET /api/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n'));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', () => {});
    });
  }

  it.each([
    ['Transfer-Encoding: chunked', { 'Transfer-Encoding': 'chunked' }],
    ['Transfer-Encoding: gzip', { 'Transfer-Encoding': 'gzip' }],
    ['Connection and Keep-Alive', { Connection: 'keep-alive, x-request-id', 'Keep-Alive': 'timeout=600' }],
  ])('%s from a render hook: its page, framed by Content-Length alone, and one warning', async (_what, headers) => {
    // RFC 9112 §6.3: Content-Length with Transfer-Encoding is a framing a front proxy may read either way; the bytes
    // it reads past the page would be the next response on its connection (response desync).
    const render = () => ({ status: 503, headers, body: 'custom page' });
    const app = await h.gateway(refusingUpstream, { retry: false }, { errors: { render } });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);
    try {
      const bytes = await exchange(app.port);
      await new Promise((resolve) => setImmediate(resolve));
      const end = bytes.indexOf('\r\n\r\n');
      const head = bytes.slice(0, end).toLowerCase();
      expect(head.split('\r\n')[0]).toBe('http/1.1 503 service unavailable');
      expect(head).not.toContain('\r\ntransfer-encoding:');
      expect(head).not.toContain('\r\nkeep-alive:');
      expect(head).not.toContain('x-request-id,');
      expect(head).toContain(`\r\ncontent-length: ${'custom page'.length}`);
      expect(bytes.slice(end + 4)).toBe('custom page');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/^gateway-errors: the render hook returned .+, which only the connection sets/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe.each(adapters)('$name: something unexpected in the proxy path', (adapter) => {
  const h = harness(adapter);

  it('an event listener that throws: the error reaches the app’s error handler, which answers', async () => {
    const app = await h.gateway(refusingUpstream, { retry: false });
    app.proxy?.on('failure', () => {
      throw new Error('listener broke');
    });
    const res = await request(app.url).get('/api/x');
    expect(res.status).toBe(500);
    expect(res.text).toBe(appErrorHandlerBody);
    expect(app.passedOn).toMatchObject([{ message: 'listener broke' }]);
  });
});
