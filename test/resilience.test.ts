import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import type {
  ProxyAbortEvent,
  ProxyBreakerEvent,
  ProxyFailureEvent,
  ProxyHealthEvent,
  ProxyRetryEvent,
} from '@gateway-errors/core';
import {
  flakyUpstream,
  httpUpstream,
  refusingUpstream,
  resetAfterRequest,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { adapters, type RunningApp } from './adapters.js';
import { expectError, harness, jsonAccept, rawRequest } from './harness.js';

/** An upstream a test switches at run time. */
interface Switchable extends Upstream {
  /** Up: answers 200 with its name. Down: resets the connection after reading the request (no response). */
  up: boolean;
  /** Up but slow: answers after 2 s (for clients that leave first). */
  slow: boolean;
  /** Whether `GET /health` answers 200 (else 503). */
  healthy: boolean;
  /** Requests other than health checks. */
  readonly served: number;
  /** `performance.now()` at each of them. */
  readonly times: readonly number[];
}

async function switchable(name: string): Promise<Switchable> {
  const state = { up: true, slow: false, healthy: true, served: 0, times: [] as number[] };
  const upstream = await httpUpstream((req, res) => {
    req.resume();
    if (req.url === '/health') {
      res.writeHead(state.healthy ? 200 : 503, { 'Content-Length': '0' }).end();
      return;
    }
    state.served++;
    state.times.push(performance.now());
    if (!state.up) {
      req.socket.resetAndDestroy();
      return;
    }
    const answer = () => {
      const body = `${name}\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (!state.slow) return answer();
    const timer = setTimeout(answer, 2000);
    res.on('close', () => clearTimeout(timer));
  });
  return {
    url: upstream.url,
    port: upstream.port,
    close: () => upstream.close(),
    get requests() {
      return upstream.requests;
    },
    get served() {
      return state.served;
    },
    times: state.times,
    get up() {
      return state.up;
    },
    set up(value) {
      state.up = value;
    },
    get slow() {
      return state.slow;
    },
    set slow(value) {
      state.slow = value;
    },
    get healthy() {
      return state.healthy;
    },
    set healthy(value) {
      state.healthy = value;
    },
  };
}

/** Every event of a proxy, in order. */
function record(app: RunningApp) {
  const events = {
    failure: [] as ProxyFailureEvent[],
    retry: [] as ProxyRetryEvent[],
    abort: [] as ProxyAbortEvent[],
    breaker: [] as ProxyBreakerEvent[],
    health: [] as ProxyHealthEvent[],
  };
  const proxy = app.proxy;
  if (proxy === undefined) throw new Error('no proxy');
  proxy.on('failure', (event) => events.failure.push(event));
  proxy.on('retry', (event) => events.retry.push(event));
  proxy.on('abort', (event) => events.abort.push(event));
  proxy.on('breaker', (event) => events.breaker.push(event));
  proxy.on('health', (event) => events.health.push(event));
  return events;
}

/** Writes `text` on a raw connection, then nothing, and resolves with what came back once the gateway closed it. */
function rawRequestOf(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A clock for the proxy's resilience that moves only when the test advances it. */
function manualClock() {
  let now = 0;
  return {
    now: () => now,
    advance(ms: number): void {
      now += ms;
    },
  };
}

describe.each(adapters)('$name: resilience', (adapter) => {
  const h = harness(adapter);

  describe('safe retries', () => {
    it('retries a GET once on a flaky upstream, and never a POST the upstream may have acted on', async () => {
      const { url, upstream } = await h.gateway(flakyUpstream);
      const get = await request(url).get('/api/x');
      expect(get.status).toBe(200);
      expect(get.text).toBe('ok\n');
      expect(upstream.requests).toBe(2);
      const post = await request(url).post('/api/y').set('Accept', jsonAccept).send({ a: 1 });
      expectError(post, { status: 502, format: 'problem', type: 'connection_terminated' });
      expect(upstream.requests).toBe(3);
    });

    it("waits out an intercepted 503's short Retry-After before retrying", async () => {
      const arrivals: number[] = [];
      const upstream = await h.upstream(() =>
        httpUpstream((req, res) => {
          req.resume();
          arrivals.push(performance.now());
          if (arrivals.length === 1) res.writeHead(503, { 'Retry-After': '1', 'Content-Length': '0' }).end();
          else res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '3' }).end('ok\n');
        }),
      );
      const app = await h.app({ proxy: { target: upstream.url, intercept: true } });
      const res = await request(app.url).get('/api/x');
      expect(res.status).toBe(200);
      expect(res.text).toBe('ok\n');
      expect(arrivals).toHaveLength(2);
      // Retry-After: 1 was believed: the retry came a second later (timer granularity allowed for).
      expect((arrivals[1] as number) - (arrivals[0] as number)).toBeGreaterThanOrEqual(990);
    });

    it('passes a 503 through with its Retry-After when the wait does not fit the deadline or maxRetryAfter', async () => {
      const { url, upstream } = await h.gateway(() => statusUpstream({ status: 503, retryAfter: '1' }), {
        intercept: true,
        timeouts: { deadline: 500 },
      });
      const res = await request(url).get('/api/x').set('Accept', jsonAccept);
      expectError(res, { status: 503, format: 'problem', receivedStatus: 503, retryAfter: 1 });
      expect(upstream.requests).toBe(1);

      const patient = await h.gateway(() => statusUpstream({ status: 503, retryAfter: '2' }), {
        intercept: true,
        retry: { backoff: { maxRetryAfter: 1000 } },
      });
      const second = await request(patient.url).get('/api/x').set('Accept', jsonAccept);
      expectError(second, { status: 503, format: 'problem', receivedStatus: 503, retryAfter: 2 });
      expect(patient.upstream.requests).toBe(1);
    });

    it('the deadline bounds the retries: it cuts the attempt under way, and no other starts', async () => {
      // The first attempt is reset at once (a GET: retried), every later one hangs: only the deadline can end the
      // second, whose own response timer is far away. No wall-clock race between two timers decides the outcome.
      const upstream = await h.upstream(() =>
        httpUpstream((req) => {
          req.resume();
          // The others are never answered.
          if (upstream.requests === 1) req.socket.resetAndDestroy();
        }),
      );
      const app = await h.app({
        proxy: {
          target: upstream.url,
          timeouts: { response: 60_000, deadline: 400 },
          retry: { retries: 5 },
          // No jitter: the backoff before the second attempt is 0.
          clock: { random: () => 0 },
        },
      });
      const events = record(app);
      const res = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      expectError(res, { status: 504, format: 'problem', type: 'http_response_timeout' });
      expect(
        events.failure.map((event) => [event.attempt, event.failure.type, event.timeout, event.willRetry]),
      ).toEqual([
        [1, 'connection_terminated', undefined, true],
        [2, 'http_response_timeout', 'deadline', false],
      ]);
      expect(upstream.requests).toBe(2);
    });

    it('the retry budget stops retries under a storm', async () => {
      const app = await h.gateway(resetAfterRequest, {
        breaker: false,
        retry: { retries: 1, budget: { ratio: 0.1, minPerSecond: 0 } },
      });
      const events = record(app);
      for (let i = 0; i < 20; i++) {
        const res = await request(app.url).get(`/api/${i}`).set('Accept', jsonAccept);
        expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
      }
      // One retry per ten requests: the 10th and the 20th were retried, not the 18 others (without a budget: 40).
      expect(app.upstream.requests).toBe(22);
      expect(events.retry.map((event) => event.path)).toEqual(['/9', '/19']);
    });
  });

  describe('circuit breaker', () => {
    it('opens after consecutive failures, fails fast with a decreasing Retry-After, half-opens and closes', async () => {
      const upstream = await h.upstream(() => switchable('up'));
      upstream.up = false;
      // The breaker's time is the test's: the open time passes when the test says so, however slow the machine.
      const clock = manualClock();
      const app = await h.app({
        proxy: {
          target: upstream.url,
          retry: false,
          breaker: { consecutiveFailures: 3, openFor: 1500, jitter: 0 },
          clock: { now: clock.now },
        },
      });
      const events = record(app);
      for (let i = 0; i < 3; i++) {
        const res = await request(app.url).get('/api/x').set('Accept', jsonAccept);
        expectError(res, { status: 502, format: 'problem', type: 'connection_terminated' });
      }
      expect(events.breaker).toMatchObject([
        {
          upstream: upstream.url,
          target: 0,
          from: 'closed',
          to: 'open',
          reason: 'consecutive-failures',
          openFor: 1500,
        },
      ]);

      // Open: answered at once, the upstream untouched, Retry-After = the remaining open time, rounded up.
      const early = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      expectError(early, { status: 503, format: 'problem', type: 'destination_unavailable', retryAfter: 2 });
      clock.advance(900);
      const later = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      expectError(later, { status: 503, format: 'problem', type: 'destination_unavailable', retryAfter: 1 });
      clock.advance(599);
      const last = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      expectError(last, { status: 503, format: 'problem', type: 'destination_unavailable', retryAfter: 1 });
      expect(upstream.served).toBe(3);

      // The upstream recovers; once the open time is over, one probe goes through and closes the circuit.
      upstream.up = true;
      clock.advance(1);
      const probe = await request(app.url).get('/api/x');
      expect(probe.status).toBe(200);
      expect(probe.text).toBe('up\n');
      expect(events.breaker.map((event) => [event.from, event.to])).toEqual([
        ['closed', 'open'],
        ['open', 'half-open'],
        ['half-open', 'closed'],
      ]);
      expect((await request(app.url).get('/api/x')).status).toBe(200);
      expect(upstream.served).toBe(5);
    });

    it('never counts a client that went away', async () => {
      const upstream = await h.upstream(() => switchable('up'));
      upstream.slow = true;
      const app = await h.app({ proxy: { target: upstream.url, retry: false, breaker: { consecutiveFailures: 2 } } });
      const events = record(app);
      for (let i = 0; i < 3; i++) {
        const exchange = await rawRequest(app.port, '/api/slow', 100);
        expect(exchange).toEqual({ bytes: '', ending: 'open' });
      }
      await waitFor(() => events.abort.length === 3, 'three abort events');
      upstream.slow = false;
      const res = await request(app.url).get('/api/x');
      expect(res.status).toBe(200);
      expect(events.abort).toMatchObject([{ status: 499 }, { status: 499 }, { status: 499 }]);
      expect(events.failure).toEqual([]);
      expect(events.breaker).toEqual([]);
      expect(upstream.served).toBe(4);
    });
  });

  describe('several targets', () => {
    it('fails over from a dead target, keeps traffic away from it (passive health), and returns when it recovers', async () => {
      const a = await h.upstream(() => switchable('a'));
      const b = await h.upstream(() => switchable('b'));
      a.up = false;
      const clock = manualClock();
      const app = await h.app({
        proxy: {
          target: [a.url, b.url],
          breaker: false,
          passive: { failures: 2, downFor: 500 },
          clock: { now: clock.now },
        },
      });
      const events = record(app);
      for (let i = 0; i < 6; i++) {
        const res = await request(app.url).get('/api/x');
        expect(res.status).toBe(200);
        expect(res.text).toBe('b\n');
      }
      // Round-robin sent 2 of the first 3 requests to a, which failed over to b; then a was out of rotation.
      expect(a.served).toBe(2);
      expect(events.health).toEqual([{ upstream: a.url, target: 0, healthy: false, source: 'passive' }]);
      expect(events.retry.map((event) => event.upstream)).toEqual([b.url, b.url]);

      a.up = true;
      // Still within its down time: a gets nothing.
      clock.advance(499);
      expect((await request(app.url).get('/api/x')).text).toBe('b\n');
      clock.advance(1);
      const bodies: string[] = [];
      for (let i = 0; i < 4; i++) bodies.push((await request(app.url).get('/api/x')).text);
      expect(bodies.sort()).toEqual(['a\n', 'a\n', 'b\n', 'b\n']);
      expect(events.health.at(-1)).toEqual({ upstream: a.url, target: 0, healthy: true, source: 'passive' });
    });

    it('follows active health checks, and answers 503 with Retry-After when no target is healthy', async () => {
      const a = await h.upstream(() => switchable('a'));
      const b = await h.upstream(() => switchable('b'));
      const app = await h.app({
        proxy: {
          target: [a.url, b.url],
          passive: false,
          healthCheck: { path: '/health', interval: 100, timeout: 80 },
        },
      });
      const events = record(app);
      a.healthy = false;
      await waitFor(() => events.health.some((event) => event.upstream === a.url && !event.healthy), 'a unhealthy');
      for (let i = 0; i < 4; i++) expect((await request(app.url).get('/api/x')).text).toBe('b\n');
      expect(a.served).toBe(0);

      b.healthy = false;
      await waitFor(() => events.health.some((event) => event.upstream === b.url && !event.healthy), 'b unhealthy');
      const none = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      // Retry-After: until the next round of checks has its results (100 ms + 80 ms), rounded up.
      expectError(none, { status: 503, format: 'problem', type: 'destination_unavailable', retryAfter: 1 });
      expect(a.served + b.served).toBe(4);

      a.healthy = true;
      await waitFor(() => events.health.some((event) => event.upstream === a.url && event.healthy), 'a healthy');
      for (let i = 0; i < 2; i++) expect((await request(app.url).get('/api/x')).text).toBe('a\n');
      expect(a.served).toBe(2);
    });

    it('answers 503 with Retry-After until the first down time ends when every target failed', async () => {
      const a = await h.upstream(() => switchable('a'));
      const b = await h.upstream(() => switchable('b'));
      a.up = false;
      b.up = false;
      const app = await h.app({ proxy: { target: [a.url, b.url], passive: { failures: 1, downFor: 10_000 } } });
      const first = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      // Both were tried (the retry failed over), and both are now out of rotation.
      expectError(first, { status: 502, format: 'problem', type: 'connection_terminated' });
      expect([a.served, b.served]).toEqual([1, 1]);
      const second = await request(app.url).get('/api/x').set('Accept', jsonAccept);
      expectError(second, { status: 503, format: 'problem', type: 'destination_unavailable', retryAfter: 10 });
      expect([a.served, b.served]).toEqual([1, 1]);
    });
  });

  it('answers 503 connection_limit_reached past the concurrency limit and its queue', async () => {
    // The upstream holds its answers until the test lets them go: the first request keeps the only slot as long as
    // the test needs, however slow the machine.
    const held: Array<() => void> = [];
    const upstream = await h.upstream(() =>
      httpUpstream((req, res) => {
        req.resume();
        held.push(() => res.end(`answer to ${req.url}\n`));
      }),
    );
    const app = await h.app({
      proxy: { target: upstream.url, concurrency: { max: 1, queue: 1, queueTimeout: 60_000 } },
    });
    const first = request(app.url)
      .get('/api/1')
      .then((res) => res);
    await waitFor(() => upstream.requests === 1, 'the first request upstream');
    // The second waits in the queue once the app has it: the proxy queues it in the tick its request arrives.
    const secondArrived = once(app.server, 'request');
    const second = request(app.url)
      .get('/api/2')
      .then((res) => res);
    await secondArrived;
    await new Promise((resolve) => setImmediate(resolve));
    const third = await request(app.url).get('/api/3').set('Accept', jsonAccept);
    expectError(third, { status: 503, format: 'problem', type: 'connection_limit_reached', retryAfter: 1 });
    expect(upstream.requests).toBe(1);
    held.shift()?.();
    expect((await first).text).toBe('answer to /1\n');
    await waitFor(() => upstream.requests === 2, 'the second request upstream');
    held.shift()?.();
    expect((await second).text).toBe('answer to /2\n');
    expect(upstream.requests).toBe(2);
  });

  it('frees the slot of a client that stalls: one that never reads its answer, one that stops its upload (408)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 97);
    const app = await h.gateway(
      () =>
        httpUpstream((req, res) => {
          req.resume();
          if (req.url === '/small' || req.url === '/upload') {
            req.on('end', () => res.end('small answer\n'));
            return;
          }
          // An endless answer, written as fast as the gateway takes it.
          const pump = () => {
            while (!res.destroyed && res.write(chunk));
          };
          res.on('drain', pump);
          pump();
        }),
      { concurrency: { max: 1, queue: 0 }, timeouts: { idle: 300 }, breaker: { consecutiveFailures: 1 } },
    );
    const events = record(app);
    const reader = connect(app.port, '127.0.0.1', () => reader.write('GET /api/endless HTTP/1.1\r\nHost: gw\r\n\r\n'));
    reader.on('error', () => {});
    reader.pause();
    await waitFor(() => events.abort.length === 1, 'the reader to be cut', 10_000);
    reader.destroy();
    expect(events.abort[0]).toMatchObject({ stalled: 'client-read', status: 499, headSent: true });
    expect((await request(app.url).get('/api/small')).text).toBe('small answer\n');

    const upload = await rawRequestOf(
      app.port,
      'PUT /api/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000000\r\n\r\n0123456789',
    );
    expect(upload.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
    expect(events.abort[1]).toMatchObject({ stalled: 'client-body', status: 408, headSent: false });
    expect((await request(app.url).get('/api/small')).text).toBe('small answer\n');
    expect(events.failure).toEqual([]);
  });

  describe('robots.txt', () => {
    const rules = 'User-agent: *\nDisallow: /private\n';

    it('serves the last good copy with 200 when the upstream then fails', async () => {
      let failing = false;
      const upstream = await h.upstream(() =>
        httpUpstream((req, res) => {
          req.resume();
          if (failing) {
            res.writeHead(503, { 'Retry-After': '120', 'Content-Length': '5' }).end('down\n');
            return;
          }
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(rules) }).end(rules);
        }),
      );
      const app = await h.app({ proxy: { target: upstream.url }, mount: 'root' });
      const good = await request(app.url).get('/robots.txt');
      expect(good.status).toBe(200);
      expect(good.text).toBe(rules);

      failing = true;
      const kept = await request(app.url).get('/robots.txt');
      expect(kept.status).toBe(200);
      expect(kept.headers['content-type']).toBe('text/plain');
      expect(kept.headers['cache-control']).toBe('max-age=300');
      expect(kept.text).toBe(rules);
      const head = await request(app.url).head('/robots.txt');
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(rules.length));
      // Any other path gets the upstream's own 503.
      const page = await request(app.url).get('/page');
      expect(page.status).toBe(503);
      expect(page.headers['retry-after']).toBe('120');
    });

    it('serves the fallback when no good copy was seen, only at the site root', async () => {
      const upstream = await h.upstream(refusingUpstream);
      const root = await h.app({ proxy: { target: upstream.url }, mount: 'root' });
      const res = await request(root.url).get('/robots.txt');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(res.text).toBe('User-agent: *\nAllow: /\n');

      // Below a mount path it is not the site's robots.txt: the failure is answered as any other.
      const mounted = await h.app({ proxy: { target: upstream.url, robots: { fallback: rules } } });
      const below = await request(mounted.url).get('/api/robots.txt').set('Accept', jsonAccept);
      expectError(below, { status: 502, format: 'problem', type: 'connection_refused' });
    });
  });
});
