import { echoUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { upstreamPath } from '../src/engine.js';
import { type Gateway, rawExchange, splitHead, startGateway } from './proxy-helpers.js';

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
    ['/base', '/../admin', '/base/admin'],
    ['/base', '/x/%2e%2e/%2E%2E/admin', '/base/admin'],
    ['/base', '/x/..%5c..%5cadmin', '/base/x/..%5c..%5cadmin'],
    ['/base', '/x\\..\\..\\admin', '/base/admin'],
  ])('never climbs out of the target path: %j + %j -> %j', async (targetPath, requestTarget, expected) => {
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
  });
});
