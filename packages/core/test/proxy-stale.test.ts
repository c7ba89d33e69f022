import { createProxy, type ProxyOptions } from '@gateway-errors/core';
import { httpUpstream, type SitePage, type SiteUpstream, siteUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { faultyStore, type StoreFault } from '../../../test/support/stores.js';
import { type Gateway, type GatewaySetup, send, startGateway } from './proxy-helpers.js';

// stale-if-error in the core's proxy: options, keys, what a copy is served with, events, and copies shared through a
// store. What users see through the adapters is test/stale.test.ts.

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function upstreamOf<T extends Upstream>(make: () => Promise<T>): Promise<T> {
  const upstream = await make();
  open.push(upstream);
  return upstream;
}

async function site(pages: Record<string, SitePage> = {}): Promise<SiteUpstream> {
  const upstream = await upstreamOf(siteUpstream);
  for (const [path, page] of Object.entries(pages)) upstream.pages.set(path, page);
  return upstream;
}

async function gatewayOf(options: ProxyOptions, setup?: GatewaySetup): Promise<Gateway> {
  const gateway = await startGateway({ retry: false, breaker: false, staleIfError: true, ...options }, setup);
  open.push(gateway);
  return gateway;
}

const json = { accept: 'application/json' };

describe('options', () => {
  const target = 'http://127.0.0.1:1';
  it.each<[string, unknown, RegExp]>([
    ['a string', 'yes', /staleIfError must be true, false, or an options object such as \{ maxAge: 3600 \}/],
    ['a misspelt option', { maxage: 60 }, /staleIfError has no option "maxage". Did you mean "maxAge"\?/],
    ['a zero maxAge', { maxAge: 0 }, /staleIfError.maxAge must be a whole number from 1/],
    [
      'a status that is not kept',
      { statuses: [200, 500] },
      /staleIfError.statuses must be a list of statuses from 200, 203/,
    ],
    ['no status', { statuses: [] }, /staleIfError.statuses must be a list/],
    ['a total below the body', { maxTotalBytes: 100, maxBodyBytes: 1000 }, /maxTotalBytes \(100\) must be at least/],
    ['an empty cacheName', { cacheName: '' }, /staleIfError.cacheName must be a non-empty string/],
  ])('refuses %s, naming the fix', (_name, staleIfError, message) => {
    expect(() => createProxy({ target, staleIfError } as ProxyOptions)).toThrow(message);
  });

  it('is off by default', async () => {
    const upstream = await site();
    const gateway = await gatewayOf({ target: upstream.url, staleIfError: undefined });
    await send(`${gateway.url}/page`);
    upstream.down = 'reset';
    expect((await send(`${gateway.url}/page`)).status).toBe(502);
  });
});

describe('what a copy is kept under', () => {
  it('the full request-target, query included, and the Host sent upstream', async () => {
    const upstream = await site();
    const gateway = await gatewayOf({ target: upstream.url });
    await send(`${gateway.url}/page?a=1`, { headers: { host: 'a.example' } });
    upstream.down = 'reset';
    expect(await send(`${gateway.url}/page?a=1`, { headers: { host: 'A.example' } })).toMatchObject({
      status: 200,
      body: 'page /page?a=1\n',
    });
    expect((await send(`${gateway.url}/page?a=2`, { headers: { host: 'a.example' } })).status).toBe(502);
    expect((await send(`${gateway.url}/page`, { headers: { host: 'a.example' } })).status).toBe(502);
    expect((await send(`${gateway.url}/page?a=1`, { headers: { host: 'b.example' } })).status).toBe(502);
  });

  it('with changeOrigin, one copy for every Host: the upstream was asked under its own name', async () => {
    const upstream = await site();
    const gateway = await gatewayOf({ target: upstream.url, changeOrigin: true });
    await send(`${gateway.url}/page`, { headers: { host: 'a.example' } });
    upstream.down = 'reset';
    expect((await send(`${gateway.url}/page`, { headers: { host: 'b.example' } })).status).toBe(200);
  });

  it('a HEAD is answered from a GET’s copy, and keeps none itself', async () => {
    const upstream = await site();
    const gateway = await gatewayOf({ target: upstream.url });
    await send(`${gateway.url}/head-only`, { method: 'HEAD' });
    await send(`${gateway.url}/page`);
    upstream.down = 'reset';
    expect((await send(`${gateway.url}/head-only`)).status).toBe(502);
    const head = await send(`${gateway.url}/page`, { method: 'HEAD' });
    expect(head).toMatchObject({ status: 200, body: '' });
    expect(head.headers['content-length']).toBe(String('page /page\n'.length));
  });
});

describe('how a copy is served', () => {
  it('its own status and headers without hop-by-hop ones, Age, and our Cache-Status after the upstream’s', async () => {
    const upstream = await site({
      '/gone': {
        status: 410,
        body: 'gone for good\n',
        headers: {
          Connection: 'X-Hop',
          'X-Hop': 'this hop only',
          'Keep-Alive': 'timeout=5',
          'Cache-Status': 'UpstreamCache; fwd=miss; stored',
          'Cache-Control': 'max-age=600',
        },
      },
    });
    const gateway = await gatewayOf(
      { target: upstream.url, staleIfError: { statuses: [200, 410], cacheName: 'edge 1' } },
      {
        before: (_req, res) => {
          res.setHeader('X-Frame-Options', 'DENY');
        },
      },
    );
    expect((await send(`${gateway.url}/gone`)).status).toBe(410);
    upstream.down = 'reset';
    const stale = await send(`${gateway.url}/gone`);
    expect(stale.status).toBe(410);
    expect(stale.body).toBe('gone for good\n');
    expect(stale.headers['x-hop']).toBeUndefined();
    expect(stale.headers['keep-alive']).not.toBe('timeout=5');
    expect(stale.headers['x-frame-options']).toBe('DENY');
    const age = Number(stale.headers.age);
    // A fresh copy (max-age=600) answering a failure: a hit with its positive ttl; the name quoted, not a token.
    expect(stale.headers['cache-status']).toBe(
      `UpstreamCache; fwd=miss; stored, "edge 1"; hit; ttl=${600 - age}; detail=connection_terminated`,
    );
  });

  it('the failure event says a copy answered; every failure is still reported', async () => {
    const upstream = await site();
    const gateway = await gatewayOf({ target: upstream.url, retry: { retries: 1, backoff: { base: 1, cap: 1 } } });
    await send(`${gateway.url}/page`);
    upstream.down = 'reset';
    await send(`${gateway.url}/page`);
    await send(`${gateway.url}/never`);
    expect(gateway.events.failure.map((event) => [event.path, event.willRetry, event.stale])).toEqual([
      ['/page', true, false],
      ['/page', false, true],
      ['/never', true, false],
      ['/never', false, false],
    ]);
  });

  it('answers a request the concurrency limit refuses', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const upstream = await upstreamOf(() =>
      httpUpstream((req, res) => {
        req.resume();
        const answer = () => res.writeHead(200, { 'Content-Length': 3 }).end('ok\n');
        if (req.url === '/slow') held.then(answer);
        else answer();
      }),
    );
    const gateway = await gatewayOf({ target: upstream.url, concurrency: { max: 1, queue: 0 } });
    await send(`${gateway.url}/page`);
    const slow = send(`${gateway.url}/slow`);
    const refused = await send(`${gateway.url}/page`, { headers: json });
    expect(refused.status).toBe(200);
    expect(refused.headers['cache-status']).toMatch(/; detail=connection_limit_reached$/);
    expect((await send(`${gateway.url}/other`, { headers: json })).status).toBe(503);
    release();
    expect((await slow).status).toBe(200);
  });

  it('an upstream’s own 5xx passes through without intercept, and a 500 is answered by the copy with it', async () => {
    const upstream = await site();
    const plain = await gatewayOf({ target: upstream.url });
    const intercepting = await gatewayOf({ target: upstream.url, intercept: [500] });
    await send(`${plain.url}/page`);
    await send(`${intercepting.url}/page`);
    upstream.down = 500;
    expect((await send(`${plain.url}/page`)).status).toBe(500);
    expect((await send(`${intercepting.url}/page`)).status).toBe(200);
    expect(intercepting.events.failure.at(-1)).toMatchObject({ stale: true, failure: { receivedStatus: 500 } });
  });
});

describe('a conditional request a copy answers (RFC 9110 §13.1, RFC 9111 §4.3.2)', () => {
  const lastModified = 'Tue, 24 Nov 2026 10:00:00 GMT';
  const page: SitePage = {
    status: 200,
    body: 'the page\n',
    headers: {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Language': 'en',
      ETag: '"v1,a"',
      'Last-Modified': lastModified,
      'Cache-Control': 'max-age=60',
      'Content-Security-Policy': "default-src 'none'",
    },
  };

  async function downAfterOneVisit(pageOf: SitePage = page): Promise<Gateway> {
    const upstream = await site({ '/page': pageOf });
    const gateway = await gatewayOf({ target: upstream.url });
    expect((await send(`${gateway.url}/page`)).status).toBe(200);
    upstream.down = 'reset';
    return gateway;
  }

  it.each<[string, Record<string, string>, string]>([
    ['its entity-tag', { 'if-none-match': '"v1,a"' }, 'GET'],
    ['its entity-tag in a list, weakly', { 'if-none-match': '"v0", W/"v1,a"' }, 'GET'],
    ['any entity-tag', { 'if-none-match': '*' }, 'GET'],
    ['its entity-tag, for a HEAD', { 'if-none-match': '"v1,a"' }, 'HEAD'],
    ['a date at or after its Last-Modified', { 'if-modified-since': lastModified }, 'GET'],
  ])(
    'is answered 304 with the copy’s validators, Age and Cache-Status when it names %s',
    async (_n, headers, method) => {
      const gateway = await downAfterOneVisit();
      const reply = await send(`${gateway.url}/page`, { method, headers });
      expect(reply.status).toBe(304);
      expect(reply.body).toBe('');
      expect(reply.headers.etag).toBe('"v1,a"');
      expect(reply.headers['cache-control']).toBe('max-age=60');
      expect(reply.headers['content-security-policy']).toBe("default-src 'none'");
      expect(reply.headers.age).toMatch(/^\d+$/);
      expect(reply.headers['cache-status']).toMatch(/^gateway-errors; hit; ttl=-?\d+; detail=connection_terminated$/);
      // RFC 9110 §15.4.5: no representation metadata but what guides a cache update.
      expect(reply.headers['content-type']).toBeUndefined();
      expect(reply.headers['content-language']).toBeUndefined();
      expect(reply.headers['content-length']).toBeUndefined();
    },
  );

  it.each<[string, Record<string, string>]>([
    ['another entity-tag', { 'if-none-match': '"v2"' }],
    ['a list that does not parse', { 'if-none-match': '"v1,a' }],
    ['a list with a tag that does not parse', { 'if-none-match': '"v1,a", v2' }],
    ['an empty list', { 'if-none-match': ' , ' }],
    [
      'an entity-tag and a date that matches: the tag decides',
      { 'if-none-match': '"v2"', 'if-modified-since': lastModified },
    ],
    ['a date before its Last-Modified', { 'if-modified-since': 'Mon, 23 Nov 2026 10:00:00 GMT' }],
    ['a date that does not parse', { 'if-modified-since': 'yesterday' }],
  ])('is answered with the whole copy when it names %s', async (_n, headers) => {
    const gateway = await downAfterOneVisit();
    const reply = await send(`${gateway.url}/page`, { headers });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('the page\n');
    expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('a copy of a status other than 200 is answered whole', async () => {
    const upstream = await site({ '/gone': { ...page, status: 410 } });
    const gateway = await gatewayOf({ target: upstream.url, staleIfError: { statuses: [200, 410] } });
    expect((await send(`${gateway.url}/gone`)).status).toBe(410);
    upstream.down = 'reset';
    const reply = await send(`${gateway.url}/gone`, { headers: { 'if-none-match': '"v1,a"' } });
    expect(reply.status).toBe(410);
    expect(reply.body).toBe('the page\n');
  });

  it('without a Last-Modified, a date names nothing', async () => {
    const { 'Last-Modified': _dropped, ...headers } = page.headers as Record<string, string>;
    const gateway = await downAfterOneVisit({ ...page, headers });
    const reply = await send(`${gateway.url}/page`, { headers: { 'if-modified-since': lastModified } });
    expect(reply.status).toBe(200);
  });
});

describe('copies in a shared store', () => {
  // Every instance is asked for the same site (each test gateway listens on a port of its own).
  const host = { host: 'www.example' };

  it('a copy one gateway kept answers a failure on another with the same targets', async () => {
    const upstream = await site();
    const store = faultyStore();
    const seen = await gatewayOf({ target: upstream.url, store });
    await send(`${seen.url}/page`, { headers: host });
    upstream.down = 'reset';
    const other = await gatewayOf({ target: upstream.url, store });
    const stale = await send(`${other.url}/page`, { headers: host });
    expect(stale).toMatchObject({ status: 200, body: 'page /page\n' });
    // Then from its own memory.
    const reads = store.reads.length;
    expect((await send(`${other.url}/page`, { headers: host })).status).toBe(200);
    expect(store.reads.length).toBe(reads);
  });

  it('a hot URL is written to the store once, not with every request; a varying one with its record', async () => {
    const upstream = await site({ '/vary': { headers: { Vary: 'Accept' } } });
    const store = faultyStore();
    const gateway = await gatewayOf({ target: upstream.url, store });
    for (let i = 0; i < 20; i++) await send(`${gateway.url}/page`);
    expect(store.writes.length).toBe(1);
    for (let i = 0; i < 20; i++) await send(`${gateway.url}/vary`);
    // The variant, and the record of the fields it varies by.
    expect(store.writes.length).toBe(3);
  });

  it.each<StoreFault>(['hang', 'reject', 'throw', 'truncate', 'garble', 'foreign'])(
    'a store that answers %s never breaks the answer: the failure answers',
    async (fault) => {
      const upstream = await site();
      const store = faultyStore();
      const seen = await gatewayOf({ target: upstream.url, store });
      await send(`${seen.url}/page`, { headers: host });
      upstream.down = 'reset';
      store.fault = fault;
      const other = await gatewayOf({ target: upstream.url, store });
      const reply = await send(`${other.url}/page`, { headers: { ...host, ...json } });
      expect(reply.status).toBe(502);
      expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_terminated');
      expect(store.reads.length).toBeGreaterThan(0);
      expect(other.events.failure.at(-1)).toMatchObject({ stale: false });
    },
  );
});
