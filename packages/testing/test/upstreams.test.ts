import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import {
  badHeaderUpstream,
  dieMidBodyUpstream,
  eagerUpstream,
  echoUpstream,
  flakyUpstream,
  garbageUpstream,
  hangingUpstream,
  oversizedHeadUpstream,
  refusingUpstream,
  resetAfterRequest,
  resetOnAccept,
  slowHeadUpstream,
  stallMidBodyUpstream,
  statusUpstream,
  testCA,
  tlsUpstream,
  type Upstream,
  unacceptingUpstream,
  webSocketEchoUpstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';

let upstream: Upstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

interface Exchange {
  /** Every byte the client received, as latin1. */
  bytes: string;
  /** How the connection ended: a clean close (FIN), a reset, or still open when we gave up waiting. */
  ending: 'fin' | 'reset' | 'open' | 'refused';
}

/** Sends one raw GET over TCP and records every byte that comes back and how the connection ends. */
function exchange(target: Upstream, waitMs = 300): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(target.port, '127.0.0.1');
    const done = (ending: Exchange['ending']) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks).toString('latin1'), ending });
    };
    const timer = setTimeout(() => done('open'), waitMs);
    socket.on('connect', () => socket.write('GET /x HTTP/1.1\r\nHost: upstream\r\n\r\n'));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => done('fin'));
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
  });
}

/** Makes one request with Node's HTTP client and reports the response or the error code it failed with. */
function get(
  url: string,
  options: { ca?: string; path?: string; method?: string } = {},
): Promise<{ status?: number; body?: string; headers?: Record<string, unknown>; error?: string }> {
  return new Promise((resolve) => {
    const target = new URL(options.path ?? '/', url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(target, { method: options.method ?? 'GET', agent: false, ca: options.ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ status: res.statusCode, error: err.code }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code }));
    req.end();
  });
}

describe('connection-level failures', () => {
  it('refusingUpstream: nothing listens', async () => {
    upstream = await refusingUpstream();
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}`);
    expect(await exchange(upstream)).toEqual({ bytes: '', ending: 'refused' });
    expect((await get(upstream.url)).error).toBe('ECONNREFUSED');
    expect(upstream.requests).toBe(0);
  });

  it('refusingUpstream: no server listening on port 0 can be given its port', async () => {
    upstream = await refusingUpstream();
    // A port-0 listener gets a port of the ephemeral range (never a privileged one): whatever other tests start while
    // this one runs, the proxy's connection is refused, never answered by one of them.
    expect(upstream.port).toBeGreaterThan(1000);
    expect(upstream.port).toBeLessThan(1024);
    const others = await Promise.all(Array.from({ length: 20 }, () => echoUpstream()));
    try {
      expect(others.map((other) => other.port)).not.toContain(upstream.port);
      expect((await get(upstream.url)).error).toBe('ECONNREFUSED');
    } finally {
      await Promise.all(others.map((other) => other.close()));
    }
  });

  it('resetOnAccept: RST before a byte is read', async () => {
    upstream = await resetOnAccept();
    expect(await exchange(upstream)).toEqual({ bytes: '', ending: 'reset' });
    expect((await get(upstream.url)).error).toBe('ECONNRESET');
    expect(upstream.requests).toBe(2);
  });

  it('resetAfterRequest: RST once the request head arrived, no response byte', async () => {
    upstream = await resetAfterRequest();
    expect(await exchange(upstream)).toEqual({ bytes: '', ending: 'reset' });
    expect((await get(upstream.url)).error).toBe('ECONNRESET');
    expect(upstream.requests).toBe(2);
  });

  it('hangingUpstream: reads the request, never answers, keeps the connection open', async () => {
    upstream = await hangingUpstream();
    expect(await exchange(upstream, 200)).toEqual({ bytes: '', ending: 'open' });
    expect(upstream.requests).toBe(1);
  });
});

describe('connect never completes', () => {
  it('unacceptingUpstream: the TCP handshake hangs, nothing is ever read', async () => {
    upstream = await unacceptingUpstream();
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}`);
    const connected = await new Promise<boolean>((resolve) => {
      const socket = connect(upstream?.port ?? 0, '127.0.0.1');
      socket.on('error', () => resolve(false));
      socket.once('connect', () => resolve(true));
      setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 300);
    });
    expect(connected).toBe(false);
    expect(upstream.requests).toBe(0);
  });
});

describe('malformed responses', () => {
  it('garbageUpstream: non-HTTP bytes, then FIN', async () => {
    upstream = await garbageUpstream();
    expect(await exchange(upstream)).toEqual({ bytes: 'SSH-2.0-OpenSSH_9.6\r\n', ending: 'fin' });
    expect((await get(upstream.url)).error).toBe('HPE_INVALID_CONSTANT');
  });

  it('badHeaderUpstream: a control character in a header value', async () => {
    upstream = await badHeaderUpstream();
    const { bytes, ending } = await exchange(upstream);
    expect(bytes).toBe('HTTP/1.1 200 OK\r\nX-Bad: a\x01b\r\nContent-Length: 2\r\n\r\nok');
    expect(ending).toBe('fin');
    expect((await get(upstream.url)).error).toBe('HPE_INVALID_HEADER_TOKEN');
  });

  it('oversizedHeadUpstream: a head larger than 16 KiB', async () => {
    upstream = await oversizedHeadUpstream();
    const { bytes } = await exchange(upstream);
    expect(bytes.indexOf('\r\n\r\n')).toBeGreaterThan(16 * 1024);
    expect(bytes.endsWith('\r\n\r\nok')).toBe(true);
    expect((await get(upstream.url)).error).toBe('HPE_HEADER_OVERFLOW');
  });
});

describe('failures in the body', () => {
  it('dieMidBodyUpstream (content-length): fewer bytes than announced, then FIN', async () => {
    upstream = await dieMidBodyUpstream();
    expect(await exchange(upstream)).toEqual({
      bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial body\n',
      ending: 'fin',
    });
    const result = await get(upstream.url);
    expect(result).toMatchObject({ status: 200, error: 'ECONNRESET' });
  });

  it('dieMidBodyUpstream (chunked): no last chunk, then FIN', async () => {
    upstream = await dieMidBodyUpstream({ framing: 'chunked', sent: 'hello' });
    expect(await exchange(upstream)).toEqual({
      bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
      ending: 'fin',
    });
    expect(await get(upstream.url)).toMatchObject({ status: 200, error: 'ECONNRESET' });
  });

  it('stallMidBodyUpstream: part of the body, then silence with the connection open', async () => {
    upstream = await stallMidBodyUpstream({
      declaredLength: 50,
      sent: 'abc',
      headers: { 'Content-Type': 'text/plain' },
    });
    expect(await exchange(upstream, 200)).toEqual({
      bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 50\r\n\r\nabc',
      ending: 'open',
    });
  });
});

describe('valid answers', () => {
  it('statusUpstream: a valid 503 with Retry-After', async () => {
    upstream = await statusUpstream({ retryAfter: '120' });
    expect(await get(upstream.url)).toMatchObject({
      status: 503,
      body: 'upstream says 503\n',
      headers: { 'retry-after': '120', 'content-length': '18' },
    });
  });

  it('statusUpstream: another status, without Retry-After', async () => {
    upstream = await statusUpstream({ status: 500, body: 'boom' });
    const result = await get(upstream.url);
    expect(result).toMatchObject({ status: 500, body: 'boom' });
    expect(result.headers).not.toHaveProperty('retry-after');
  });

  it('slowHeadUpstream: answers after the delay', async () => {
    upstream = await slowHeadUpstream({ delay: 150 });
    const started = performance.now();
    expect(await get(upstream.url)).toMatchObject({ status: 200, body: 'slow ok\n' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('echoUpstream: echoes method, url, headers and body', async () => {
    upstream = await echoUpstream();
    const result = await get(upstream.url, { path: '/a/b?c=1' });
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body ?? '')).toMatchObject({ method: 'GET', url: '/a/b?c=1', body: '' });
  });

  it('flakyUpstream: fails the first N requests of each path, then 200', async () => {
    upstream = await flakyUpstream({ failures: 2 });
    expect((await get(upstream.url, { path: '/a' })).error).toBe('ECONNRESET');
    expect((await get(upstream.url, { path: '/a?x=1' })).error).toBe('ECONNRESET');
    expect(await get(upstream.url, { path: '/a' })).toMatchObject({ status: 200, body: 'ok\n' });
    expect((await get(upstream.url, { path: '/b' })).error).toBe('ECONNRESET');
    expect(upstream.requests).toBe(4);
  });

  it('eagerUpstream: answers before the body, keeps the connection, records every request it parses', async () => {
    const eager = await eagerUpstream({ status: 202, body: 'early\n' });
    upstream = eager;
    const socket = connect(eager.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    // The head announces 4 body bytes but 30 follow: the rest is parsed as a second request on the connection.
    socket.write('POST /a HTTP/1.1\r\nHost: u\r\nContent-Length: 4\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('data', () => resolve()));
    expect(received).toMatch(/^HTTP\/1\.1 202 Accepted\r\n[\s\S]*\r\n\r\nearly\n$/);
    expect(eager.received).toMatchObject([{ method: 'POST', url: '/a', body: '', ended: false }]);
    socket.end('bodyGET /smuggled HTTP/1.1\r\nHost: u\r\n\r\n');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(eager.received).toMatchObject([
      { method: 'POST', url: '/a', body: 'body', ended: true },
      { method: 'GET', url: '/smuggled', ended: true },
    ]);
    expect(eager.requests).toBe(2);
    expect(eager.connections).toBe(1);
  });

  it('flakyUpstream: failing with a status', async () => {
    upstream = await flakyUpstream({ failWith: 'status', status: 502 });
    expect(await get(upstream.url)).toMatchObject({ status: 502 });
    expect(await get(upstream.url)).toMatchObject({ status: 200 });
  });
});

describe('WebSocket', () => {
  it('webSocketEchoUpstream: a valid 101 (RFC 6455 §4.2.2), then every byte echoed', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    const received = await new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      const socket = connect(echo.port, '127.0.0.1', () =>
        socket.write(
          'GET /ws?room=1 HTTP/1.1\r\nHost: upstream\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nhello',
        ),
      );
      socket.on('data', (chunk) => {
        chunks.push(chunk);
        const text = Buffer.concat(chunks).toString('latin1');
        if (text.endsWith('hello')) {
          expect(echo.openTunnels()).toBe(1);
          socket.destroy();
          resolve(text);
        }
      });
    });
    // The key and accept value are RFC 6455's own example (§1.3).
    expect(received).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello',
    );
    expect(echo.handshakes).toEqual([
      { url: '/ws?room=1', headers: expect.objectContaining({ upgrade: 'websocket' }) },
    ]);
    expect(echo.requests).toBe(1);
    expect((await get(echo.url)).status).toBe(426);
  });
});

describe('TLS', () => {
  it.each([
    ['selfSigned', undefined, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['expired', testCA, 'CERT_HAS_EXPIRED'],
    ['wrongHost', testCA, 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ['valid', undefined, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ] as const)('tlsUpstream(%s) fails verification with %s', async (certificate, ca, code) => {
    upstream = await tlsUpstream({ certificate });
    expect(upstream.url.startsWith('https://127.0.0.1:')).toBe(true);
    expect((await get(upstream.url, { ca })).error).toBe(code);
  });

  it('tlsUpstream(valid) answers 200 to a client that trusts the test CA', async () => {
    upstream = await tlsUpstream({ certificate: 'valid' });
    expect(await get(upstream.url, { ca: testCA })).toMatchObject({ status: 200, body: 'ok\n' });
    expect(upstream.requests).toBe(1);
  });
});

it('close() is idempotent and frees the port', async () => {
  const hanging = await hangingUpstream();
  await exchange(hanging, 50);
  await Promise.all([hanging.close(), hanging.close()]);
  expect((await exchange(hanging)).ending).toBe('refused');
});
