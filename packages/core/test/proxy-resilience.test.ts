import { createProxy, type ProxyBreakerEvent, type ProxyOptions } from '@gateway-errors/core';
import {
  echoUpstream,
  httpUpstream,
  refusingUpstream,
  resetAfterRequest,
  slowHeadUpstream,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { faultyStore, type StoreFault } from '../../../test/support/stores.js';
import { type Gateway, headerIn, rawExchange, send, splitHead, startGateway, until } from './proxy-helpers.js';

// How the proxy's attempt loop uses the resilience modules. What users see through the adapters is in
// test/resilience.test.ts; this file covers the core's own contract: options, events, choices, edge cases.

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
});

async function upstreamOf<T extends Upstream>(make: () => Promise<T>): Promise<T> {
  const upstream = await make();
  open.push(upstream);
  return upstream;
}

async function gatewayOf(options: ProxyOptions): Promise<Gateway> {
  const gateway = await startGateway(options);
  open.push(gateway);
  return gateway;
}

const handshake =
  'GET /ws HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

describe('options', () => {
  const target = 'http://127.0.0.1:1';

  it.each<[string, object, RegExp]>([
    ['an empty target list', { target: [] }, /target is an empty list/],
    ['mixed protocols', { target: [target, 'https://127.0.0.1:2'] }, /targets mix http: and https:/],
    ['a target twice', { target: [target, target] }, /listed twice/],
    ['a misspelt option', { target, breakers: {} }, /has no option "breakers". Did you mean "breaker"\?/],
    ['an unknown breaker option', { target, breaker: { failures: 5 } }, /gatewayProxy\(\) breaker has no option/],
    ['breaker: true', { target, breaker: true }, /breaker must be an options object .*, or false/],
    ['retry.budget: true', { target, retry: { budget: true } }, /retry.budget must be an options object/],
    ['a bad backoff', { target, retry: { backoff: { base: 500, cap: 100 } } }, /retry.backoff.cap \(100\)/],
    ['a zero concurrency', { target, concurrency: { max: 0 } }, /concurrency.max must be a whole number/],
    ['a bad health check', { target, healthCheck: { interval: 100, timeout: 500 } }, /healthCheck.timeout/],
    ['a bad passive option', { target, passive: { downFor: -1 } }, /passive.downFor must be a positive number/],
    ['a bad robots fallback', { target, robots: { fallback: 1 } }, /robots.fallback must be the text/],
    ['trustRequestId: "no"', { target, trustRequestId: 'no' }, /trustRequestId must be true or false/],
    ['a clock whose now is a number', { target, clock: { now: 5 } }, /clock.now and clock.random must be functions/],
    ['an unknown clock field', { target, clock: { now: () => 0, tick: 1 } }, /gatewayProxy\(\) clock has no option/],
  ])('refuses %s, naming the fix', (_name, options, message) => {
    expect(() => createProxy(options as ProxyOptions)).toThrow(message);
  });

  it('accepts every resilience option at once', () => {
    const proxy = createProxy({
      target: [target, 'http://127.0.0.1:2'],
      retry: { retries: 2, backoff: { base: 50, cap: 500, maxRetryAfter: 0 }, budget: false },
      breaker: { consecutiveFailures: 3, openFor: 1000, maxOpenFor: 8000, jitter: 0, probes: 2 },
      passive: { failures: 2, downFor: 5000, failureStatuses: [502] },
      healthCheck: { path: '/health', interval: 60_000, timeout: 1000 },
      concurrency: { max: 10, queue: 0 },
      robots: false,
      trustRequestId: false,
    });
    proxy.close();
  });
});

describe('request ids', () => {
  it('an incoming X-Request-Id is replaced by default, upstream and in events; reused with trustRequestId', async () => {
    const upstream = await upstreamOf(echoUpstream);
    const gateway = await gatewayOf({ target: upstream.url });
    const reply = await send(`${gateway.url}/x`, { headers: { 'x-request-id': 'from-client' } });
    const sent = JSON.parse(reply.body).headers['x-request-id'];
    expect(sent).toMatch(/^[0-9a-f-]{36}$/);
    expect(gateway.events.response[0]?.requestId).toBe(sent);

    const trusting = await gatewayOf({ target: upstream.url, trustRequestId: true });
    const kept = await send(`${trusting.url}/x`, { headers: { 'x-request-id': 'from-client' } });
    expect(JSON.parse(kept.body).headers['x-request-id']).toBe('from-client');
  });
});

describe('Retry-After passed through', () => {
  it('is clamped to one day', async () => {
    const upstream = await upstreamOf(() => statusUpstream({ status: 503, retryAfter: '999999' }));
    const gateway = await gatewayOf({ target: upstream.url });
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('86400');
    expect(reply.body).toBe('upstream says 503\n');
  });
});

describe('retries and the breaker', () => {
  it('no retry into a circuit its own failure opened: that failure is the answer, later requests fail fast', async () => {
    const upstream = await upstreamOf(refusingUpstream);
    const gateway = await gatewayOf({ target: upstream.url, breaker: { consecutiveFailures: 1, jitter: 0 } });
    const first = await send(`${gateway.url}/x`, { headers: { accept: 'application/json' } });
    expect(first.status).toBe(502);
    expect(first.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
    expect(gateway.events.failure).toMatchObject([
      { attempt: 1, willRetry: false, failure: { type: 'connection_refused' } },
    ]);
    expect(gateway.events.retry).toEqual([]);

    const second = await send(`${gateway.url}/x`, { headers: { accept: 'application/json' } });
    expect(second.status).toBe(503);
    expect(second.headers['proxy-status']).toBe('gateway-errors; error=destination_unavailable');
    expect(second.headers['retry-after']).toBe('5');
    expect(gateway.events.failure[1]).toMatchObject({
      attempt: 1,
      upstream: upstream.url,
      timings: {},
      willRetry: false,
      failure: { type: 'destination_unavailable', phase: 'gateway', mayHaveReachedUpstream: false },
    });
  });

  it('an intercepted 503 counts as an answer, unless listed in failureStatuses', async () => {
    const upstream = await upstreamOf(() => statusUpstream({ status: 503 }));
    const lenient = await gatewayOf({ target: upstream.url, intercept: true, breaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 3; i++) expect((await send(`${lenient.url}/x`)).headers['proxy-status']).toContain('503');
    const strict = await gatewayOf({
      target: upstream.url,
      intercept: true,
      breaker: { consecutiveFailures: 2, failureStatuses: [503] },
    });
    const breaker: ProxyBreakerEvent[] = [];
    strict.proxy.on('breaker', (event) => breaker.push(event));
    for (let i = 0; i < 3; i++) await send(`${strict.url}/x`);
    expect(breaker).toMatchObject([{ to: 'open', reason: 'consecutive-failures' }]);
    expect(upstream.requests).toBe(5);
  });

  it('a breaker listener that throws does not break the request; its error surfaces on its own', async () => {
    const upstream = await upstreamOf(refusingUpstream);
    const gateway = await gatewayOf({ target: upstream.url, retry: false, breaker: { consecutiveFailures: 1 } });
    gateway.proxy.on('breaker', () => {
      throw new Error('listener bug');
    });
    // Vitest reports uncaught exceptions as failures: catch this one ourselves for the length of the request.
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught: unknown[] = [];
    process.on('uncaughtException', (error) => uncaught.push(error));
    try {
      const reply = await send(`${gateway.url}/x`);
      expect(reply.status).toBe(502);
      expect(reply.headers['proxy-status']).toBe('gateway-errors; error=connection_refused');
      await until(() => uncaught.length === 1, 2000, 'the rethrown listener error');
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const listener of listeners) process.on('uncaughtException', listener);
    }
    expect(String(uncaught[0])).toContain('listener bug');
    expect(gateway.results).toEqual([expect.objectContaining({ status: 502 })]);
  });

  it('an open circuit answers a WebSocket handshake with 503 on the socket', async () => {
    const upstream = await upstreamOf(refusingUpstream);
    const gateway = await gatewayOf({ target: upstream.url, retry: false, breaker: { consecutiveFailures: 1 } });
    expect((await send(`${gateway.url}/x`)).status).toBe(502);
    const { bytes, ending } = await rawExchange(gateway.port, handshake);
    expect(ending).toBe('fin');
    const { head } = splitHead(bytes);
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(headerIn(head, 'proxy-status')).toBe('gateway-errors; error=destination_unavailable');
    expect(Number(headerIn(head, 'retry-after'))).toBeGreaterThanOrEqual(4);
    expect(gateway.events.failure.at(-1)).toMatchObject({
      upgrade: true,
      failure: { type: 'destination_unavailable' },
    });
  });
});

describe('several targets', () => {
  it('fails a POST over only when it never reached the first target', async () => {
    const refusing = await upstreamOf(refusingUpstream);
    const echo = await upstreamOf(echoUpstream);
    const gateway = await gatewayOf({ target: [refusing.url, echo.url] });
    const reply = await send(`${gateway.url}/x`, { method: 'POST', body: 'a=1' });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ method: 'POST', body: 'a=1' });
    expect(gateway.events.retry).toMatchObject([{ attempt: 2, upstream: echo.url }]);

    const resetting = await upstreamOf(resetAfterRequest);
    const other = await upstreamOf(echoUpstream);
    const strict = await gatewayOf({ target: [resetting.url, other.url] });
    const failed = await send(`${strict.url}/x`, { method: 'POST', body: 'a=1' });
    expect(failed.status).toBe(502);
    expect(failed.headers['proxy-status']).toBe('gateway-errors; error=connection_terminated');
    expect(other.requests).toBe(0);
  });

  it('names every target in a failure no target was chosen for', async () => {
    const a = await upstreamOf(refusingUpstream);
    const b = await upstreamOf(refusingUpstream);
    const gateway = await gatewayOf({ target: [a.url, b.url], passive: { failures: 1, downFor: 60_000 } });
    expect((await send(`${gateway.url}/x`)).status).toBe(502);
    const reply = await send(`${gateway.url}/x`);
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('60');
    expect(gateway.events.failure.at(-1)).toMatchObject({
      attempt: 1,
      upstream: `${a.url}, ${b.url}`,
      failure: { type: 'destination_unavailable' },
    });
  });

  it('close() stops the health checks', async () => {
    let checks = 0;
    const upstream = await upstreamOf(() =>
      httpUpstream((req, res) => {
        req.resume();
        if (req.url === '/health') checks++;
        res.writeHead(200, { 'Content-Length': '0' }).end();
      }),
    );
    const gateway = await gatewayOf({
      target: upstream.url,
      healthCheck: { path: '/health', interval: 30, timeout: 20 },
    });
    await until(() => checks >= 2, 2000, 'two health checks');
    await gateway.close();
    const after = checks;
    // A control with the same checks, left running: once it has run two more rounds, the closed proxy, had it gone
    // on, would have run one at least. Measured against it, not against a fixed wait, a slow machine changes nothing.
    let controlChecks = 0;
    const control = await upstreamOf(() =>
      httpUpstream((req, res) => {
        req.resume();
        if (req.url === '/health') controlChecks++;
        res.writeHead(200, { 'Content-Length': '0' }).end();
      }),
    );
    await gatewayOf({ target: control.url, healthCheck: { path: '/health', interval: 30, timeout: 20 } });
    await until(() => controlChecks >= 3, 2000, 'three health checks of the control');
    expect(checks).toBe(after);
  });
});

describe('concurrency limit', () => {
  it('a queued request waits for a slot, and is refused once its queue wait is over', async () => {
    const upstream = await upstreamOf(() => slowHeadUpstream({ delay: 300 }));
    const gateway = await gatewayOf({ target: upstream.url, concurrency: { max: 1, queue: 2, queueTimeout: 100 } });
    const first = send(`${gateway.url}/1`);
    await until(() => upstream.requests === 1, 2000, 'the first request upstream');
    const refused = await send(`${gateway.url}/2`, { headers: { accept: 'application/json' } });
    expect(refused.status).toBe(503);
    expect(refused.headers['proxy-status']).toBe('gateway-errors; error=connection_limit_reached');
    expect(refused.headers['retry-after']).toBe('1');
    expect(gateway.events.failure).toMatchObject([
      { attempt: 0, upstream: upstream.url, failure: { type: 'connection_limit_reached', phase: 'gateway' } },
    ]);
    expect((await first).status).toBe(200);
    expect(upstream.requests).toBe(1);
  });

  it('a client that leaves while queued is an abort, and gives its place back', async () => {
    const upstream = await upstreamOf(() => slowHeadUpstream({ delay: 300 }));
    const gateway = await gatewayOf({ target: upstream.url, concurrency: { max: 1, queue: 1, queueTimeout: 5000 } });
    const first = send(`${gateway.url}/1`);
    await until(() => upstream.requests === 1, 2000, 'the first request upstream');
    await rawExchange(gateway.port, 'GET /leaving HTTP/1.1\r\nHost: gw\r\n\r\n', 50);
    await until(() => gateway.events.abort.length === 1, 2000, 'the abort event');
    expect(gateway.events.abort[0]).toMatchObject({ attempt: 0, status: 499, path: '/leaving' });
    // Its queue place is free again: the next request waits for the slot instead of being refused.
    const second = await send(`${gateway.url}/2`);
    expect(second.status).toBe(200);
    expect((await first).status).toBe(200);
    expect(upstream.requests).toBe(2);
  });

  it('does not count WebSocket tunnels', async () => {
    const upstream = await upstreamOf(() => statusUpstream({ status: 503 }));
    const gateway = await gatewayOf({ target: upstream.url, concurrency: { max: 1, queue: 0 } });
    const { bytes } = await rawExchange(gateway.port, handshake);
    expect(bytes.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect((await send(`${gateway.url}/x`)).status).toBe(503);
    expect(upstream.requests).toBe(2);
  });
});

describe('robots.txt', () => {
  it('stands in for a 429, never keeps an HTML page, and is off with robots: false', async () => {
    let answer: 'html' | '429' = 'html';
    const upstream = await upstreamOf(() =>
      httpUpstream((req, res) => {
        req.resume();
        if (answer === 'html') res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': '6' }).end('<html>');
        else res.writeHead(429, { 'Content-Length': '0' }).end();
      }),
    );
    const gateway = await gatewayOf({ target: upstream.url, robots: { fallback: 'User-agent: *\nDisallow:\n' } });
    const html = await send(`${gateway.url}/robots.txt?x=1`);
    expect(html.body).toBe('<html>');
    answer = '429';
    const standIn = await send(`${gateway.url}/robots.txt`);
    expect(standIn.status).toBe(200);
    expect(standIn.body).toBe('User-agent: *\nDisallow:\n');
    // A 429 is an answer: not retried, and no failure for the breaker; the event says what happened.
    expect(gateway.events.failure.at(-1)).toMatchObject({ willRetry: false, failure: { receivedStatus: 429 } });
    expect(upstream.requests).toBe(2);

    const off = await gatewayOf({ target: upstream.url, robots: false });
    expect((await send(`${off.url}/robots.txt`)).status).toBe(429);
  });

  /**
   * A virtual-host upstream as most are: the real site's robots.txt for its own Host, a permissive default for any
   * other Host (so each made-up Host gets a good 200 text/plain answer to keep); `down` makes it reset every request.
   */
  async function virtualHosts(site: string, rules: string) {
    const state = { down: false };
    const upstream = await upstreamOf(() =>
      httpUpstream((req, res) => {
        req.resume();
        if (state.down) {
          res.socket?.destroy();
          return;
        }
        const body = req.headers.host === site ? rules : 'User-agent: *\nAllow: /\n# default host\n';
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) }).end(body);
      }),
    );
    return Object.assign(upstream, { state });
  }
  const siteRules = 'User-agent: *\nDisallow: /private/\n';

  it('made-up Hosts cannot push out the copy of the real site (issue 13, item 7)', async () => {
    const upstream = await virtualHosts('www.example', siteRules);
    const gateway = await gatewayOf({ target: upstream.url, retry: false });
    expect((await send(`${gateway.url}/robots.txt`, { headers: { host: 'www.example' } })).body).toBe(siteRules);
    // Twice the keeper's 20 places, each a good answer worth keeping.
    for (let i = 0; i < 40; i++) {
      const junk = await send(`${gateway.url}/robots.txt`, { headers: { host: `junk-${i}.example` } });
      expect(junk.body).toContain('# default host');
    }
    upstream.state.down = true;
    const standIn = await send(`${gateway.url}/robots.txt`, { headers: { host: 'www.example' } });
    expect(standIn.status).toBe(200);
    expect(standIn.body).toBe(siteRules);
    // A kept copy answered: the event says so.
    expect(gateway.events.failure.at(-1)).toMatchObject({ stale: true, failure: { type: 'connection_terminated' } });
  });

  it('made-up Hosts that come first cannot keep the real site from having a copy (security review)', async () => {
    const upstream = await virtualHosts('www.example', siteRules);
    const gateway = await gatewayOf({ target: upstream.url, retry: false });
    // Right after a start (a deploy), before any crawler asked: twenty good answers worth keeping, each refreshed as
    // often as the attacker likes. Copies are bounded by bytes, least recently used first: a newcomer always has a
    // place.
    for (let i = 0; i < 20; i++) {
      const junk = await send(`${gateway.url}/robots.txt`, { headers: { host: `junk-${i}.example` } });
      expect(junk.body).toContain('# default host');
    }
    expect((await send(`${gateway.url}/robots.txt`, { headers: { host: 'www.example' } })).body).toBe(siteRules);
    upstream.state.down = true;
    const standIn = await send(`${gateway.url}/robots.txt`, { headers: { host: 'www.example' } });
    expect(standIn.status).toBe(200);
    // Not the permissive fallback, which would tell crawlers /private/ is open for as long as the outage lasts.
    expect(standIn.body).toBe(siteRules);
  });

  it('with changeOrigin, one copy stands for every Host: the upstream was asked under its own name', async () => {
    const upstream = await virtualHosts('www.example', siteRules);
    const gateway = await gatewayOf({ target: upstream.url, retry: false, changeOrigin: true });
    const live = await send(`${gateway.url}/robots.txt`, { headers: { host: 'www.example' } });
    // The upstream was asked for 127.0.0.1:<port>, not www.example: its default answer is what it served.
    expect(live.body).toContain('# default host');
    upstream.state.down = true;
    for (const host of ['www.example', 'other.example']) {
      const standIn = await send(`${gateway.url}/robots.txt`, { headers: { host } });
      expect(standIn).toMatchObject({ status: 200, body: live.body });
    }
  });

  it('stands in when an open circuit refuses the request', async () => {
    const upstream = await upstreamOf(refusingUpstream);
    const gateway = await gatewayOf({ target: upstream.url, retry: false, breaker: { consecutiveFailures: 1 } });
    expect((await send(`${gateway.url}/x`)).status).toBe(502);
    const reply = await send(`${gateway.url}/robots.txt`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('User-agent: *\nAllow: /\n');
    // The fallback was never seen: not a kept copy.
    expect(gateway.events.failure.at(-1)).toMatchObject({ stale: false, failure: { type: 'destination_unavailable' } });
  });
});

describe('copies in a shared store', () => {
  const siteRules = 'User-agent: *\nDisallow: /private/\n';

  /** An upstream serving the site's robots.txt until `state.down`, then resetting every request. */
  async function robotsSite() {
    const state = { down: false };
    const upstream = await upstreamOf(() =>
      httpUpstream((req, res) => {
        req.resume();
        if (state.down) {
          res.socket?.destroy();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': siteRules.length }).end(siteRules);
      }),
    );
    return Object.assign(upstream, { state });
  }

  it('a copy one gateway kept answers a failure on another with the same targets', async () => {
    const upstream = await robotsSite();
    const store = faultyStore();
    const seen = await gatewayOf({ target: upstream.url, retry: false, store });
    expect((await send(`${seen.url}/robots.txt`, { headers: { host: 'www.example' } })).body).toBe(siteRules);
    upstream.state.down = true;
    // A gateway started after the copy was kept (a new instance): nothing in its own memory.
    const other = await gatewayOf({ target: upstream.url, retry: false, store });
    const standIn = await send(`${other.url}/robots.txt`, { headers: { host: 'www.example' } });
    expect(standIn).toMatchObject({ status: 200, body: siteRules });
    // Read once from the store, then from its own memory.
    const reads = store.reads.length;
    expect((await send(`${other.url}/robots.txt`, { headers: { host: 'www.example' } })).body).toBe(siteRules);
    expect(store.reads.length).toBe(reads);
    // Another Host's copy was never seen: the fallback.
    const elsewhere = await send(`${other.url}/robots.txt`, { headers: { host: 'other.example' } });
    expect(elsewhere.body).toBe('User-agent: *\nAllow: /\n');
  });

  it('a hot robots.txt is written to the store once, not with every request', async () => {
    const upstream = await robotsSite();
    const store = faultyStore();
    const gateway = await gatewayOf({ target: upstream.url, store });
    for (let i = 0; i < 20; i++) await send(`${gateway.url}/robots.txt`);
    expect(store.writes.length).toBe(1);
  });

  it.each<StoreFault>(['hang', 'reject', 'throw', 'truncate', 'garble', 'foreign'])(
    'a store that answers %s never breaks the answer: the fallback stands in',
    async (fault) => {
      const upstream = await robotsSite();
      const store = faultyStore();
      const seen = await gatewayOf({ target: upstream.url, retry: false, store });
      await send(`${seen.url}/robots.txt`, { headers: { host: 'www.example' } });
      upstream.state.down = true;
      store.fault = fault;
      const other = await gatewayOf({ target: upstream.url, retry: false, store });
      const standIn = await send(`${other.url}/robots.txt`, { headers: { host: 'www.example' } });
      expect(standIn).toMatchObject({ status: 200, body: 'User-agent: *\nAllow: /\n' });
      expect(store.reads.length).toBeGreaterThan(0);
      expect(other.events.failure.at(-1)).toMatchObject({ failure: { type: 'connection_terminated' } });
    },
  );

  it('refuses a store that is not one, naming the fix', () => {
    expect(() => createProxy({ target: 'http://127.0.0.1:1', store: {} as never })).toThrow(
      /store must be a GatewayStore, such as memoryStore\(\)/,
    );
  });
});
