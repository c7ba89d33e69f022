import type { ProxyFailureEvent } from '@gateway-errors/core';
import { type SitePage, type SiteUpstream, siteUpstream } from '@gateway-errors/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters, type RunningApp } from './adapters.js';
import { expectError, harness, jsonAccept } from './harness.js';

// stale-if-error through every adapter, over real sockets: a GET whose upstream fails is answered with the last good
// copy of its answer, when one may be kept and served (docs/resilience.md, "Stale copies").

function failures(app: RunningApp): ProxyFailureEvent[] {
  const events: ProxyFailureEvent[] = [];
  app.proxy?.on('failure', (event) => events.push(event));
  return events;
}

/** A Date header an hour ahead: the copy's age then starts at 0, not at whatever part of a second Date rounded off. */
function ahead(): string {
  return new Date(Date.now() + 3600_000).toUTCString();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe.each(adapters)('$name: stale-if-error', (adapter) => {
  const h = harness(adapter);

  async function site(pages: Record<string, SitePage> = {}): Promise<SiteUpstream> {
    const upstream = await h.upstream(siteUpstream);
    for (const [path, page] of Object.entries(pages)) upstream.pages.set(path, page);
    return upstream;
  }

  it('a page seen once answers with 200, Age and Cache-Status when the upstream dies, also once the breaker is open', async () => {
    const page = 'the page\n';
    // Age 100: a copy its own upstream cache already held; no freshness given, so it is stale by 100 s at once.
    const upstream = await site({ '/page': { body: page, headers: { Age: '100', ETag: '"v1"', 'X-Page': 'kept' } } });
    const app = await h.app({
      proxy: {
        target: upstream.url,
        staleIfError: true,
        breaker: { consecutiveFailures: 2, openFor: 60_000, jitter: 0 },
      },
    });
    const events = failures(app);
    const live = await request(app.url).get('/api/page');
    expect(live.status).toBe(200);
    expect(live.text).toBe(page);

    upstream.down = 'reset';
    const stale = await request(app.url).get('/api/page').set('Accept', jsonAccept);
    expect(stale.status).toBe(200);
    expect(stale.text).toBe(page);
    expect(stale.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(stale.headers['content-length']).toBe(String(page.length));
    expect(stale.headers.etag).toBe('"v1"');
    expect(stale.headers['x-page']).toBe('kept');
    const age = Number(stale.headers.age);
    expect(age).toBeGreaterThanOrEqual(100);
    expect(stale.headers['cache-status']).toBe(`gateway-errors; hit; ttl=-${age}; detail=connection_terminated`);
    expect(stale.headers['proxy-status']).toBeUndefined();
    // The outage is still reported: the GET was tried twice (a retry), then the copy answered.
    expect(events.map((event) => [event.failure.type, event.willRetry, event.stale])).toEqual([
      ['connection_terminated', true, false],
      ['connection_terminated', false, true],
    ]);
    const tried = upstream.requests;

    // The breaker opened after those two failures: the copy answers without the upstream being tried.
    const open = await request(app.url).get('/api/page');
    expect(open.status).toBe(200);
    expect(open.text).toBe(page);
    expect(open.headers['cache-status']).toMatch(/^gateway-errors; hit; ttl=-1\d\d; detail=destination_unavailable$/);
    expect(upstream.requests).toBe(tried);
    expect(events.at(-1)).toMatchObject({ stale: true, failure: { type: 'destination_unavailable' } });

    const head = await request(app.url).head('/api/page');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(page.length));
    expect(head.text ?? '').toBe('');

    // Never seen: the failure's own answer.
    const never = await request(app.url).get('/api/other').set('Accept', jsonAccept);
    expectError(never, { status: 503, format: 'problem', type: 'destination_unavailable', retryAfter: 60 });
  });

  it('never keeps what is private or personal, and never answers a POST: the failure answers', async () => {
    const upstream = await site({
      '/private': { headers: { 'Cache-Control': 'private, max-age=60' } },
      '/no-store': { headers: { 'Cache-Control': 'no-store' } },
      '/cookie': { headers: { 'Set-Cookie': 'sid=secret; HttpOnly' } },
      '/authorized': { headers: { 'Cache-Control': 'max-age=60' } },
      '/signed-in': {},
    });
    const app = await h.app({ proxy: { target: upstream.url, staleIfError: true, retry: false, breaker: false } });
    const events = failures(app);
    for (const path of ['/private', '/no-store', '/cookie']) {
      expect((await request(app.url).get(`/api${path}`)).status).toBe(200);
    }
    expect((await request(app.url).get('/api/authorized').set('Authorization', 'Bearer alice')).status).toBe(200);
    expect((await request(app.url).get('/api/signed-in').set('Cookie', 'sid=alice')).status).toBe(200);
    expect((await request(app.url).post('/api/post').send('x')).status).toBe(200);

    upstream.down = 'reset';
    for (const path of ['/private', '/no-store', '/cookie', '/authorized', '/signed-in', '/never']) {
      const res = await request(app.url).get(`/api${path}`).set('Accept', jsonAccept);
      expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
    }
    // Asked again the way they were seen: still nothing kept.
    const bob = await request(app.url)
      .get('/api/authorized')
      .set('Authorization', 'Bearer alice')
      .set('Accept', jsonAccept);
    expectError(bob, { status: 502, format: 'problem', type: 'connection_terminated' });
    const post = await request(app.url).post('/api/post').send('x').set('Accept', jsonAccept);
    expectError(post, { status: 502, format: 'problem', type: 'connection_terminated' });
    expect(events.every((event) => !event.stale)).toBe(true);
  });

  it('a copy past its window is not served', async () => {
    // Its own stale-if-error: a second past its freshness (none), counted from an age of 0.
    const upstream = await site({
      '/brief': { headers: { 'Cache-Control': 'max-age=0, stale-if-error=1', Date: ahead() } },
      // Already 5 s old at its upstream's cache, with a window of 2: past it before it arrives.
      '/old': { headers: { 'Cache-Control': 'stale-if-error=2', Age: '5' } },
    });
    const app = await h.app({ proxy: { target: upstream.url, staleIfError: true, retry: false } });
    expect((await request(app.url).get('/api/old')).status).toBe(200);
    expect((await request(app.url).get('/api/brief')).status).toBe(200);
    const seen = Date.now();
    upstream.down = 'reset';
    const old = await request(app.url).get('/api/old').set('Accept', jsonAccept);
    expectError(old, { status: 502, format: 'problem', type: 'connection_terminated' });
    // Waiting for the window to pass, not a margin: the copy was kept before `seen`.
    await delay(seen + 1001 - Date.now());
    const brief = await request(app.url).get('/api/brief').set('Accept', jsonAccept);
    expectError(brief, { status: 502, format: 'problem', type: 'connection_terminated' });
  });

  it('respects Vary: each variant answers its own requests, and one never seen gets the failure', async () => {
    const upstream = await site();
    upstream.pages.set('/hello', (req) => ({
      headers: { Vary: 'Accept-Language', 'Content-Language': String(req.headers['accept-language']) },
      body: req.headers['accept-language'] === 'fr' ? 'bonjour\n' : 'hello\n',
    }));
    const app = await h.app({ proxy: { target: upstream.url, staleIfError: true, retry: false } });
    expect((await request(app.url).get('/api/hello').set('Accept-Language', 'en')).text).toBe('hello\n');
    expect((await request(app.url).get('/api/hello').set('Accept-Language', 'fr')).text).toBe('bonjour\n');
    upstream.down = 'reset';
    const fr = await request(app.url).get('/api/hello').set('Accept-Language', 'fr');
    expect(fr.status).toBe(200);
    expect(fr.text).toBe('bonjour\n');
    expect(fr.headers.vary).toBe('Accept-Language');
    const en = await request(app.url).get('/api/hello').set('Accept-Language', 'en');
    expect(en.status).toBe(200);
    expect(en.text).toBe('hello\n');
    const de = await request(app.url).get('/api/hello').set('Accept-Language', 'de').set('Accept', jsonAccept);
    expectError(de, { status: 502, format: 'problem', type: 'connection_terminated' });
  });

  it('keeps memory within maxTotalBytes under many distinct URLs, the least recently used going first', async () => {
    const upstream = await site();
    const body = 'x'.repeat(1024);
    for (let i = 0; i < 40; i++) upstream.pages.set(`/item?id=${i}`, { body });
    const limit = 16 * 1024;
    const app = await h.app({
      proxy: { target: upstream.url, retry: false, staleIfError: { maxTotalBytes: limit, maxBodyBytes: 2048 } },
    });
    for (let i = 0; i < 40; i++) expect((await request(app.url).get(`/api/item?id=${i}`)).status).toBe(200);
    upstream.down = 'reset';
    const kept: number[] = [];
    for (let i = 39; i >= 0; i--) {
      if ((await request(app.url).get(`/api/item?id=${i}`)).status === 200) kept.push(i);
    }
    // Each copy is its 1 KiB body and its head: fewer than limit / body of them fit, and the newest are those.
    expect(kept.length).toBeGreaterThan(4);
    expect(kept.length).toBeLessThan(limit / body.length);
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => 39 - i));
  });

  it('never keeps a body cut mid-way', async () => {
    const upstream = await site({ '/cut': { body: 'a whole page, or nothing\n' } });
    const app = await h.app({ proxy: { target: upstream.url, staleIfError: true, retry: false } });
    upstream.down = 'cut';
    await expect(request(app.url).get('/api/cut')).rejects.toThrow();
    upstream.down = 'reset';
    const res = await request(app.url).get('/api/cut').set('Accept', jsonAccept);
    expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
  });

  it('with intercept, answers the upstream’s own 503 with the copy; without, the 503 passes through', async () => {
    const upstream = await site({ '/page': { body: 'the page\n' } });
    const intercepting = await h.app({
      proxy: { target: upstream.url, staleIfError: true, retry: false, intercept: true },
    });
    const passing = await h.app({ proxy: { target: upstream.url, staleIfError: true, retry: false } });
    for (const app of [intercepting, passing]) expect((await request(app.url).get('/api/page')).status).toBe(200);
    upstream.down = 503;
    const stale = await request(intercepting.url).get('/api/page');
    expect(stale.status).toBe(200);
    expect(stale.text).toBe('the page\n');
    // The upstream's own status says nothing of its kind: no detail.
    expect(stale.headers['cache-status']).toMatch(/^gateway-errors; hit; ttl=-?\d+$/);
    const passed = await request(passing.url).get('/api/page');
    expect(passed.status).toBe(503);
    expect(passed.text).toBe('down 503\n');
  });

  it('never answers during maintenance, nor a request maintenance lets through', async () => {
    const upstream = await site({ '/page': { body: 'the page\n' } });
    const secret = 'let-me-in-0123456789';
    const app = await h.app({
      proxy: { target: upstream.url, staleIfError: true, retry: false },
      maintenance: { enabled: false, allow: { header: { name: 'x-operator', value: secret } } },
    });
    expect((await request(app.url).get('/api/page')).status).toBe(200);
    upstream.down = 'reset';
    const gate = app.gate;
    if (gate === undefined) throw new Error('no gate');
    gate.enabled = true;
    const closed = await request(app.url).get('/api/page').set('Accept', jsonAccept);
    expectError(closed, { status: 503, format: 'problem', type: 'proxy_internal_response' });
    // An operator checking the site before reopening sees its real state.
    const operator = await request(app.url).get('/api/page').set('x-operator', secret).set('Accept', jsonAccept);
    expectError(operator, { status: 502, format: 'problem', type: 'connection_terminated' });
    gate.enabled = false;
    expect((await request(app.url).get('/api/page')).text).toBe('the page\n');
  });
});
