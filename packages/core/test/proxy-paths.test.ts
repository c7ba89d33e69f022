import { eagerUpstream, echoUpstream, type Upstream, webSocketEchoUpstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { upstreamPath } from '../src/proxy/engine.js';
import { type Gateway, headerIn, rawExchange, splitHead, startGateway } from './proxy-helpers.js';

let upstream: Upstream | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.close();
  await upstream?.close();
  gateway = upstream = undefined;
});

/** The request-target the upstream saw for `target` (the client's exact bytes, no client-side normalising). */
async function seenPath(targetPath: string, requestTarget: string): Promise<string> {
  upstream = await echoUpstream();
  gateway = await startGateway({ target: `${upstream.url}${targetPath}` });
  const { bytes } = await rawExchange(
    gateway.port,
    `GET ${requestTarget} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`,
  );
  const { head, body } = splitHead(bytes);
  expect(head).toMatch(/^HTTP\/1\.1 200 /);
  return (JSON.parse(body) as { url: string }).url;
}

describe('the request-target the upstream is asked for', () => {
  it.each([
    ['', '/a/b?x=1', '/a/b?x=1'],
    ['', '/a%20b/%C3%A9?q=%2F', '/a%20b/%C3%A9?q=%2F'],
    ['/base', '/a?x=1', '/base/a?x=1'],
    ['/base/', '/a', '/base/a'],
    ['/base?key=v', '/a?x=1', '/base/a?key=v&x=1'],
    ['/base?key=v', '/a', '/base/a?key=v'],
    ['', 'http://other.example/a?x=1', '/a?x=1'],
  ])('target path %j, request %j: %j', async (targetPath, requestTarget, expected) => {
    expect(await seenPath(targetPath, requestTarget)).toBe(expected);
  });

  it.each([
    // An encoded slash or backslash, a space, UTF-8, `.` segments, a dot file, dots that are not a segment, `%25`.
    ['/public', '/a%2Fb', '/public/a%2Fb'],
    ['/public', '/a%2fb/c%5Cd', '/public/a%2fb/c%5Cd'],
    ['/public', '/a%20b/%C3%A9', '/public/a%20b/%C3%A9'],
    ['/public', '/a/./b/%2e/c', '/public/a/./b/%2e/c'],
    ['/public', '/.well-known/security.txt', '/public/.well-known/security.txt'],
    ['/public', '/.../a..b/..c/c../%2e%2e%2e', '/public/.../a..b/..c/c../%2e%2e%2e'],
    ['/public', '/50%25off/%', '/public/50%25off/%'],
    ['/public', '/a\\b', '/public/a\\b'],
    ['/public', '/a?next=/../../admin', '/public/a?next=/../../admin'],
  ])('forwards a path that stays inside as written: %j + %j -> %j', async (targetPath, requestTarget, expected) => {
    expect(await seenPath(targetPath, requestTarget)).toBe(expected);
  });

  it('joins without doubling or losing slashes, and merges queries', () => {
    const route = (path: string, query = '') => ({ path, query });
    expect(upstreamPath(route('/'), '/')).toBe('/');
    expect(upstreamPath(route('/api'), '/')).toBe('/api/');
    expect(upstreamPath(route('/api/'), '/v1')).toBe('/api/v1');
    expect(upstreamPath(route('/api', 'k=v'), '/v1?')).toBe('/api/v1?k=v');
    expect(upstreamPath(route('/'), '//double')).toBe('//double');
    expect(upstreamPath(route('/'), '*')).toBe('/*');
    expect(upstreamPath(route('/api'), 'http://h')).toBe('/api/');
    expect(upstreamPath(route('/api'), 'https://h:8443?x=1')).toBe('/api/?x=1');
    expect(upstreamPath(route('/api'), 'http://h/a%2Fb/../c?x')).toBe('/api/a%2Fb/../c?x');
  });
});

describe('a request-target that would leave the target path is refused (400), never forwarded', () => {
  /** Sends `requestTarget` on a keep-alive connection; the upstream answers before reading any body. */
  async function refused(targetPath: string, requestTarget: string) {
    const eager = await eagerUpstream();
    upstream = eager;
    gateway = await startGateway({ target: `${eager.url}${targetPath}` });
    const exchange = await rawExchange(
      gateway.port,
      `GET ${requestTarget} HTTP/1.1\r\nHost: gw\r\n\r\nGET /next HTTP/1.1\r\nHost: gw\r\n\r\n`,
    );
    return { eager, gateway, ...exchange };
  }

  it.each([
    // Issue 13, item 4: an encoded slash or backslash turns `..` into a segment once the upstream decodes it.
    ['/public', '/..%2fadmin/x'],
    ['/public', '/%2e%2e%2fadmin/x'],
    ['/public', '/..%5cadmin/x'],
    ['/public', '/..%2Fadmin/x'],
    ['/public', '/a/..%2f..%2fadmin'],
    // Plain and encoded dot segments that climb, backslashes, doubled slashes.
    ['/public', '/../admin'],
    ['/public', '/x/%2e%2e/%2E%2E/admin'],
    ['/public', '/x\\..\\..\\admin'],
    ['/public', '/x/..%5c..%5cadmin'],
    ['/public', '//..%2f..%2fadmin'],
    ['/public', '/x/.%2e/.%2E/admin'],
    // A `..` that stays inside for some readings: whether it climbs depends on how the upstream decodes.
    ['/public', '/a/../b'],
    ['/public', '/a/%2e%2e/b'],
    ['/public', '/a%2f..%2fb'],
    ['/public', '/a%252fb/../..'],
    ['', '/a/..'],
    // Double encoding, path parameters (Tomcat, Jetty), a NUL or fragment after the dots.
    ['/public', '/%252e%252e%252fadmin'],
    ['/public', '/%25252e%25252e/admin'],
    ['/public', '/%2%65%2%65/admin'],
    ['/public', '/a%2%66..%2%66admin'],
    ['/public', '/..;/admin'],
    ['/public', '/..;jsessionid=1/admin'],
    ['/public', '/..%00/admin'],
    ['/public', '/..#/admin'],
    // A `..` whose name ends at an encoded `?`: a server that decodes the path and parses it again as a URL (Apache's
    // mod_rewrite with [P], CVE-2023-25690; nginx's proxy_pass with $uri) reads `/public/..?x` as the path `/public/..`.
    ['/public', '/..%3fx'],
    ['/public', '/a/%2e%2e%3F'],
    ['/public', '/..%253f'],
    // Absolute-form: its path is read the same way.
    ['/public', 'http://up/..%2fadmin'],
    // A root target: climbing above `/` is refused too (nginx answers 400 to it as well).
    ['', '/..%2f..%2fetc/passwd'],
    ['', '/../etc/passwd'],
    ['', '/a/../../etc'],
  ])('target path %j, request %j', async (targetPath, requestTarget) => {
    const { eager, gateway, bytes, ending } = await refused(targetPath, requestTarget);
    const { head, body } = splitHead(bytes);
    expect(head).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(headerIn(head, 'content-type')).toBe('text/plain; charset=utf-8');
    expect(headerIn(head, 'cache-control')).toBe('no-store');
    expect(headerIn(head, 'connection')).toBe('close');
    expect(body).toBe('Bad Request: the path has a .. segment, as written or decoded\n');
    expect(headerIn(head, 'content-length')).toBe(String(body.length));
    // The connection closes after the answer: the pipelined request behind it is never read.
    expect(ending).toBe('fin');
    expect(eager.requests).toBe(0);
    expect(gateway.events.reject).toMatchObject([{ status: 400, reason: 'unsafe-path', attempt: 0 }]);
    expect(gateway.events.response).toEqual([]);
    expect(gateway.events.failure).toEqual([]);
  });

  it('refuses before taking a concurrency slot or reading the body', async () => {
    const eager = await eagerUpstream();
    upstream = eager;
    gateway = await startGateway({ target: `${eager.url}/public`, concurrency: { max: 1, queue: 0 } });
    const { bytes, ending } = await rawExchange(
      gateway.port,
      'POST /..%2fadmin HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\npartial',
    );
    expect(bytes).toMatch(/^HTTP\/1\.1 400 /);
    expect(ending).toBe('fin');
    expect(eager.requests).toBe(0);
  });

  it('refuses a WebSocket handshake to such a path on the socket', async () => {
    const echo = await webSocketEchoUpstream();
    upstream = echo;
    gateway = await startGateway({ target: `${echo.url}/public` });
    const { bytes, ending } = await rawExchange(
      gateway.port,
      'GET /ws/..%2f..%2fadmin HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(bytes).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(ending).toBe('fin');
    expect(echo.requests).toBe(0);
    expect(gateway.events.reject).toMatchObject([{ status: 400, reason: 'unsafe-path', upgrade: true }]);
  });
});
