import { createServer, request } from 'node:http';
import { hangingUpstream, slowHeadUpstream, type Upstream } from '@gateway-errors/testing';
import { describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';
import {
  type Admission,
  type ConcurrencyLimiter,
  createLimiter,
  resolveConcurrency,
} from '../src/resilience/limiter.js';

function admitted(admission: Admission): () => void {
  if (!admission.admitted) throw new Error('expected an admission');
  return admission.release;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('concurrency limit: options', () => {
  it('has the documented defaults', () => {
    expect(resolveConcurrency()).toEqual({ max: 100, queue: 10, queueTimeout: 1000, retryAfter: 1 });
  });

  it.each([
    [{ max: 0 }, /concurrency\.max must be a whole number from 1 to 1000000; got 0/],
    [{ queue: -1 }, /concurrency\.queue must be a whole number from 0 to 100000/],
    [{ queueTimeout: 0 }, /concurrency\.queueTimeout must be a positive number, such as 1000/],
    [{ retryAfter: 0.5 }, /concurrency\.retryAfter must be a whole number from 1 to 86400/],
    [{ maxInFlight: 3 }, /concurrency has no option "maxInFlight"/],
  ])('rejects %o', (options, message) => {
    expect(() => createLimiter(options as object)).toThrow(message);
  });
});

describe('concurrency limit', () => {
  it('admits up to max at once, queues the next, and refuses past the queue with 503', async () => {
    const limiter = createLimiter({ max: 2, queue: 1 });
    const first = admitted(await limiter.acquire());
    admitted(await limiter.acquire());
    expect(limiter.inFlight).toBe(2);
    const waiting = limiter.acquire();
    expect(limiter.queued).toBe(1);
    const refused = await limiter.acquire();
    expect(refused).toEqual({
      admitted: false,
      failure: expect.objectContaining({
        type: 'connection_limit_reached',
        status: 503,
        phase: 'gateway',
        retryAfter: 1,
      }),
    });
    first();
    expect((await waiting).admitted).toBe(true);
    expect(limiter.inFlight).toBe(2);
    expect(limiter.queued).toBe(0);
  });

  it('hands freed slots to waiters in arrival order', async () => {
    const limiter = createLimiter({ max: 1, queue: 3 });
    const release = admitted(await limiter.acquire());
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      limiter.acquire().then((a) => {
        order.push(n);
        return admitted(a);
      }),
    );
    release();
    (await waiters[0])?.();
    (await waiters[1])?.();
    (await waiters[2])?.();
    expect(order).toEqual([1, 2, 3]);
    expect(limiter.inFlight).toBe(0);
  });

  it('gives up after queueTimeout with 503, leaving nothing queued', async () => {
    const limiter = createLimiter({ max: 1, queue: 5, queueTimeout: 20, retryAfter: 3 });
    const release = admitted(await limiter.acquire());
    const admission = await limiter.acquire();
    expect(admission.admitted).toBe(false);
    if (!admission.admitted) expect(admission.failure.retryAfter).toBe(3);
    expect(limiter.queued).toBe(0);
    release();
    expect(limiter.inFlight).toBe(0);
  });

  it('leaves the queue when the signal aborts, and refuses an already aborted signal', async () => {
    const limiter = createLimiter({ max: 1, queue: 5, queueTimeout: 60_000 });
    const release = admitted(await limiter.acquire());
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    expect(limiter.queued).toBe(1);
    controller.abort();
    expect((await waiting).admitted).toBe(false);
    expect(limiter.queued).toBe(0);
    expect((await limiter.acquire(AbortSignal.abort())).admitted).toBe(false);
    release();
    expect(limiter.inFlight).toBe(0); // the aborted waiter never took the slot
  });

  it('releases exactly once, however often release is called', async () => {
    const limiter = createLimiter({ max: 2, queue: 0 });
    const release = admitted(await limiter.acquire());
    admitted(await limiter.acquire());
    release();
    release();
    release();
    expect(limiter.inFlight).toBe(1);
  });

  it('releases on a thrown error when used with try/finally', async () => {
    const limiter = createLimiter({ max: 1 });
    const work = async () => {
      const admission = await limiter.acquire();
      if (!admission.admitted) return;
      try {
        await tick();
        throw new Error('upstream exploded');
      } finally {
        admission.release();
      }
    };
    await expect(work()).rejects.toThrow('upstream exploded');
    expect(limiter.inFlight).toBe(0);
  });

  it('is exact under churn: in flight never exceeds max and ends at zero', async () => {
    const limiter = createLimiter({ max: 3, queue: 50, queueTimeout: 60_000 });
    let peak = 0;
    const jobs = Array.from({ length: 40 }, async (_, i) => {
      const admission = await limiter.acquire();
      if (!admission.admitted) return;
      peak = Math.max(peak, limiter.inFlight);
      for (let t = 0; t < i % 4; t++) await tick();
      admission.release();
      admission.release();
    });
    await Promise.all(jobs);
    expect(peak).toBe(3);
    expect(limiter.inFlight).toBe(0);
    expect(limiter.queued).toBe(0);
  });
});

describe('concurrency limit over real sockets', () => {
  const servers = testServers();
  let upstream: Upstream | undefined;

  /** A gateway that takes a slot per request, forwards it, and counts every release. */
  async function gateway(limiter: ConcurrencyLimiter, target: string) {
    const stats = { releases: 0, admissions: 0 };
    const server = createServer(async (req, res) => {
      const client = new AbortController();
      res.on('close', () => client.abort());
      const admission = await limiter.acquire(client.signal);
      if (!admission.admitted) {
        if (client.signal.aborted) return;
        res.writeHead(admission.failure.status, { 'retry-after': String(admission.failure.retryAfter) });
        res.end(admission.failure.type);
        return;
      }
      stats.admissions++;
      const release = () => {
        stats.releases++;
        admission.release();
      };
      // The client may have left between the slot coming free and this line: its 'close' has then fired already.
      if (client.signal.aborted) {
        release();
        return;
      }
      const upstreamReq = request(`${target}${req.url}`, { agent: false }, (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502);
        upstreamRes.pipe(res);
      });
      upstreamReq.on('error', () => res.destroy());
      // One release however the exchange ends: 'close' fires once, for a finished response and for an abort alike.
      res.once('close', () => {
        upstreamReq.destroy();
        release();
      });
      upstreamReq.end();
    });
    return { url: await servers.serve(server), stats };
  }

  function get(url: string) {
    return new Promise<{ status: number; body: string; retryAfter: string | undefined }>((resolve, reject) => {
      request(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] as string | undefined }),
        );
      })
        .on('error', reject)
        .end();
    });
  }

  it('serves max at once, queues one, and answers 503 connection_limit_reached with Retry-After past the queue', async () => {
    upstream = await servers.stopAfter(slowHeadUpstream({ delay: 150 }));
    const limiter = createLimiter({ max: 1, queue: 1, queueTimeout: 5000, retryAfter: 2 });
    const { url, stats } = await gateway(limiter, upstream.url);
    const first = get(`${url}/a`);
    while (limiter.inFlight === 0) await tick();
    const second = get(`${url}/b`);
    while (limiter.queued === 0) await tick();
    const third = await get(`${url}/c`);
    expect(third).toEqual({ status: 503, body: 'connection_limit_reached', retryAfter: '2' });
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(upstream.requests).toBe(2);
    while (limiter.inFlight > 0) await tick();
    expect(stats).toEqual({ admissions: 2, releases: 2 });
  });

  it('releases exactly once when clients go away, in flight and in the queue', async () => {
    upstream = await servers.stopAfter(hangingUpstream());
    const limiter = createLimiter({ max: 2, queue: 2, queueTimeout: 60_000 });
    const { url, stats } = await gateway(limiter, upstream.url);
    const clients = Array.from({ length: 4 }, (_, i) => request(`${url}/${i}`, { agent: false }).on('error', () => {}));
    for (const client of clients) client.end();
    while (limiter.inFlight < 2 || limiter.queued < 2) await tick();
    for (const client of clients) client.destroy();
    // Every admission is counted before its slot can be released (the count follows acquire() in the same task), so
    // with nothing in flight or queued the counts are final.
    while (limiter.inFlight > 0 || limiter.queued > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stats.releases).toBe(stats.admissions);
    expect(limiter.inFlight).toBe(0);
    // The limiter still works at full capacity afterwards.
    const again = [await limiter.acquire(), await limiter.acquire()];
    expect(again.every((a) => a.admitted)).toBe(true);
  });
});
