import { type IncomingHttpHeaders, type RequestListener, request } from 'node:http';
import { connect } from 'node:net';
import { createErrorResponder } from '@gateway-errors/core';
import { failureOf, mergeVary, writeError } from '@gateway-errors/core/unstable-internals';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';

const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

interface Answer {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

const servers = testServers();

async function serve(handler: RequestListener): Promise<string> {
  return `${await servers.serve(handler)}/`;
}

function call(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode as number,
          statusMessage: res.statusMessage as string,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const responder = createErrorResponder();
const refused = failureOf('connection_refused');

describe('writing an error on a response that earlier middleware prepared', () => {
  it('removes headers that describe a body we are not sending', async () => {
    const url = await serve((req, res) => {
      res.setHeader('ETag', '"abc"');
      res.setHeader('Last-Modified', 'Wed, 21 Oct 2015 07:28:00 GMT');
      res.setHeader('Content-Encoding', 'gzip');
      res.setHeader('Content-Range', 'bytes 0-99/1000');
      res.setHeader('Content-Disposition', 'attachment; filename="report.pdf"');
      res.setHeader('Content-Language', 'de');
      res.setHeader('Expires', 'Thu, 01 Dec 2094 16:00:00 GMT');
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Location', '/elsewhere');
      res.setHeader('Link', '</app.css>; rel=preload; as=style');
      res.setHeader('CDN-Cache-Control', 'max-age=3600');
      res.setHeader('Surrogate-Control', 'max-age=3600');
      res.setHeader('Cache-Control', 'public, max-age=600');
      responder.send(refused, req, res);
    });
    const { status, headers, body } = await call(url, { headers: { accept: browser } });
    expect(status).toBe(502);
    for (const name of [
      'etag',
      'last-modified',
      'content-encoding',
      'content-range',
      'content-disposition',
      'expires',
      'accept-ranges',
      'location',
      'link',
      'cdn-cache-control',
      'surrogate-control',
    ]) {
      expect(headers[name], name).toBeUndefined();
    }
    expect(headers['content-language']).toBe('en');
    expect(headers['cache-control']).toBe('no-store');
    expect(headers['content-length']).toBe(String(body.length));
    expect(body.toString()).toContain('<!doctype html>');
  });

  it('keeps security and CORS headers and cookies', async () => {
    const url = await serve((req, res) => {
      res.setHeader('Content-Security-Policy', "default-src 'self'");
      res.setHeader('Strict-Transport-Security', 'max-age=63072000; includeSubDomains');
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('X-Frame-Options', 'DENY');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Access-Control-Allow-Origin', 'https://app.example');
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Access-Control-Expose-Headers', 'X-Request-Id, Retry-After');
      res.setHeader('Set-Cookie', ['session=abc; HttpOnly; Secure', 'theme=dark']);
      res.setHeader('X-Custom', 'kept');
      responder.send(refused, req, res);
    });
    const { headers, rawHeaders } = await call(url);
    expect(headers['content-security-policy']).toBe("default-src 'self'");
    expect(headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['x-frame-options']).toBe('DENY');
    expect(headers['referrer-policy']).toBe('no-referrer');
    expect(headers['access-control-allow-origin']).toBe('https://app.example');
    expect(headers['access-control-allow-credentials']).toBe('true');
    expect(headers['access-control-expose-headers']).toBe('X-Request-Id, Retry-After');
    expect(headers['set-cookie']).toEqual(['session=abc; HttpOnly; Secure', 'theme=dark']);
    expect(rawHeaders.filter((name) => name.toLowerCase() === 'set-cookie')).toHaveLength(2);
    expect(headers['x-custom']).toBe('kept');
  });

  it('merges Vary with an earlier one and appends to an earlier Proxy-Status', async () => {
    const url = await serve((req, res) => {
      res.setHeader('Vary', 'Origin, accept');
      res.setHeader('Proxy-Status', 'cdn-edge; error=connection_timeout');
      responder.send(refused, req, res);
    });
    const { headers } = await call(url);
    expect(headers.vary).toBe('Origin, accept, Accept-Language');
    expect(headers['proxy-status']).toBe(
      'cdn-edge; error=connection_timeout, gateway-errors; error=connection_refused',
    );
  });

  it('replaces a reason phrase set for the planned response', async () => {
    const url = await serve((req, res) => {
      res.statusMessage = 'OK';
      responder.send(failureOf('http_response_timeout'), req, res);
    });
    const { status, statusMessage } = await call(url);
    expect(status).toBe(504);
    expect(statusMessage).toBe('Gateway Timeout');
  });

  it('answers HEAD with every header, the GET body’s length, and no body', async () => {
    const url = await serve((req, res) => responder.send(refused, req, res));
    const get = await call(url, { headers: { accept: browser, 'x-request-id': 'same' } });
    const head = await call(url, { method: 'HEAD', headers: { accept: browser, 'x-request-id': 'same' } });
    expect(head.status).toBe(502);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(head.headers['content-length']).toBe(String(get.body.length));
    expect(head.headers['retry-after']).toBe('5');
    expect(head.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(head.headers['cache-control']).toBe('no-store');
  });

  it('counts Content-Length in bytes', async () => {
    const url = await serve((req, res) => responder.send(refused, req, res));
    for (const language of ['ja', 'zh', 'fr', 'en']) {
      const { headers, body } = await call(url, { headers: { accept: browser, 'accept-language': language } });
      expect(Number(headers['content-length'])).toBe(body.length);
      expect(headers['content-type']).toBe('text/html; charset=utf-8');
    }
  });

  it('reuses a safe incoming X-Request-Id and replaces a hostile one', async () => {
    const url = await serve((req, res) => responder.send(refused, req, res));
    const safe = await call(url, { headers: { 'x-request-id': 'f3b9c1d2-trace.01' } });
    expect(safe.headers['x-request-id']).toBe('f3b9c1d2-trace.01');
    expect(safe.body.toString()).toContain('Reference: f3b9c1d2-trace.01');
    const hostile = await call(url, { headers: { 'x-request-id': '<script>alert(1)</script>' } });
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(hostile.body.toString()).not.toContain('script');
    const fresh = await call(url);
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('can be told not to trust incoming request ids', async () => {
    const strict = createErrorResponder({ trustRequestId: false });
    const url = await serve((req, res) => strict.send(refused, req, res));
    const { headers } = await call(url, { headers: { 'x-request-id': 'f3b9c1d2' } });
    expect(headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('aborts the connection when the response head already went out', async () => {
    const url = await serve((req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      responder.send(refused, req, res);
    });
    await expect(call(url)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('does nothing on a response that already ended', async () => {
    const url = await serve((req, res) => {
      res.end('done');
      writeError(req, res, responder.render(refused, req, res));
    });
    const { status, body } = await call(url);
    expect(status).toBe(200);
    expect(body.toString()).toBe('done');
  });
});

describe('hostile requests', () => {
  /** Sends raw bytes, so that nothing on the client side normalises the request line or the headers. */
  function raw(url: string, head: string): Promise<string> {
    const { port } = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end(head));
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        answer += chunk;
      });
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('never echo the path, the query string or the headers into the page', async () => {
    const url = await serve((req, res) => responder.send(refused, req, res));
    const answer = await raw(
      url,
      [
        'GET /<script>alert(1)</script>/"onmouseover="x?q="><svg/onload=alert(2)>&r=javascript:alert(3) HTTP/1.1',
        'Host: "><img src=x onerror=alert(4)>',
        `Accept: ${browser}`,
        'Accept-Language: "><script>alert(5)</script>',
        'X-Request-Id: "><script>alert(6)</script>',
        'Referer: javascript:alert(7)',
        'User-Agent: <script>alert(8)</script>',
        'Connection: close',
        '',
        '',
      ].join('\r\n'),
    );
    expect(answer).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(answer).toContain('<html lang="en" dir="ltr">');
    expect(answer).not.toMatch(/alert\(|onmouseover|onload|onerror|javascript:/);
    expect(answer.match(/<script/g)).toHaveLength(1);
  });
});

describe('mergeVary', () => {
  it.each([
    [undefined, 'Accept, Accept-Language'],
    ['', 'Accept, Accept-Language'],
    ['Origin', 'Origin, Accept, Accept-Language'],
    ['accept-encoding, ACCEPT', 'accept-encoding, ACCEPT, Accept-Language'],
    [['Origin', 'Cookie'], 'Origin, Cookie, Accept, Accept-Language'],
    ['*', '*'],
  ])('%j', (existing, merged) => {
    expect(mergeVary(existing, 'Accept, Accept-Language')).toBe(merged);
  });
});
