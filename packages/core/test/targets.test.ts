import { once } from 'node:events';
import { createServer, request } from 'node:http';
import { echoUpstream, httpUpstream, refusingUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';
import { classify } from '../src/failure/classify.js';
import { failureOf, type GatewayFailure } from '../src/failure/failure.js';
import {
  createTargetPool,
  resolveTargetPoolOptions,
  resolveTargets,
  type Target,
  type TargetHealthChange,
  type TargetPool,
  type TargetPoolOptions,
} from '../src/resilience/targets.js';

const refused = { kind: 'failed', failure: failureOf('connection_refused') } as const;
const urls = ['http://10.0.0.1:4000', 'http://10.0.0.2:4000', 'http://10.0.0.3:4000'];

const servers = testServers();
let pool: TargetPool | undefined;
afterEach(() => {
  pool?.close();
  pool = undefined;
});

function start(make: () => Promise<Upstream>): Promise<Upstream> {
  return servers.stopAfter(make());
}

function poolOf(targets: string | string[], options?: TargetPoolOptions) {
  const clock = { time: 0, now: () => clock.time };
  const created = createTargetPool(targets, options, { now: clock.now });
  pool = created;
  const changes: TargetHealthChange[] = [];
  created.on('health', (change) => changes.push(change));
  return { pool: created, clock, changes };
}

const hosts = (targets: readonly Target[]) => targets.map((t) => t.url.host);

describe('targets: resolveTargets', () => {
  it('reads one URL or a list', () => {
    expect(resolveTargets('http://127.0.0.1:4000').map(String)).toEqual(['http://127.0.0.1:4000/']);
    expect(resolveTargets([new URL('https://a.internal/v1'), 'https://b.internal/v1']).map(String)).toEqual([
      'https://a.internal/v1',
      'https://b.internal/v1',
    ]);
  });

  it.each([
    [[], /target is an empty list; give at least one URL/],
    ['ftp://127.0.0.1:4000', /each target must use http: or https:, got ftp:/],
    ['not a url', /each target must be an absolute http\(s\) URL such as "http:\/\/127\.0\.0\.1:4000"/],
    [['http://a:1', 'https://b:1'], /targets mix http: and https:; use one protocol/],
    [['http://a:1/', 'http://a:1'], /target http:\/\/a:1\/ is listed twice; list it once/],
  ])('rejects %o', (target, message) => {
    expect(() => resolveTargets(target)).toThrow(message);
  });

  it('validates the pool options once', () => {
    expect(resolveTargetPoolOptions({}, 3)).toEqual({
      passive: { failures: 3, downFor: 10000, failureStatuses: [] },
      healthCheck: undefined,
    });
    expect(resolveTargetPoolOptions({}, 1).passive).toBe(false);
    expect(() => resolveTargetPoolOptions({ passive: { failures: 0 } })).toThrow(
      /passive\.failures must be a whole number from 1 to 10000; got 0/,
    );
    expect(() => resolveTargetPoolOptions({ healthcheck: {} } as object)).toThrow(/Did you mean "healthCheck"\?/);
  });
});

describe('targets: round-robin and failover', () => {
  it('goes round the healthy targets', () => {
    const { pool } = poolOf(urls);
    const firsts = Array.from({ length: 6 }, () => pool.candidates()[0]?.url.host);
    expect(firsts).toEqual([
      '10.0.0.1:4000',
      '10.0.0.2:4000',
      '10.0.0.3:4000',
      '10.0.0.1:4000',
      '10.0.0.2:4000',
      '10.0.0.3:4000',
    ]);
  });

  it('puts targets this request already tried last, so a retry goes elsewhere', () => {
    const { pool } = poolOf(urls);
    const [first] = pool.candidates();
    const tried = new Set([first as Target]);
    const next = pool.candidates(tried);
    expect(next[0]).not.toBe(first);
    expect(next.at(-1)).toBe(first);
    expect(next).toHaveLength(3);
  });

  it('retries the only target when there is only one', () => {
    const { pool } = poolOf(urls[0] as string);
    const [only] = pool.candidates();
    expect(pool.candidates(new Set([only as Target]))).toEqual([only]);
  });
});

describe('targets: passive health', () => {
  it('takes a target out after consecutive failures, for downFor, and says so', () => {
    const { pool, clock, changes } = poolOf(urls, { passive: { failures: 2, downFor: 10_000 } });
    const second = pool.targets[1] as Target;
    pool.report(second, refused);
    expect(pool.isHealthy(second)).toBe(true);
    pool.report(second, refused);
    expect(pool.isHealthy(second)).toBe(false);
    expect(changes).toEqual([{ target: second, healthy: false, source: 'passive' }]);
    for (let i = 0; i < 4; i++) expect(hosts(pool.candidates())).not.toContain('10.0.0.2:4000');
    clock.time = 10_000;
    expect(pool.isHealthy(second)).toBe(true);
    expect(changes.at(-1)).toEqual({ target: second, healthy: true, source: 'passive' });
  });

  it('puts a returning target on probation: its first failure takes it out again, a success clears it', () => {
    const { pool, clock } = poolOf(urls, { passive: { failures: 3, downFor: 1000 } });
    const first = pool.targets[0] as Target;
    for (let i = 0; i < 3; i++) pool.report(first, refused);
    clock.time = 1000;
    expect(pool.isHealthy(first)).toBe(true);
    pool.report(first, refused);
    expect(pool.isHealthy(first)).toBe(false);
    clock.time = 2000;
    pool.report(first, { kind: 'answered', status: 200 });
    pool.report(first, refused);
    expect(pool.isHealthy(first)).toBe(true);
  });

  it('does not count failures that arrive while the target is already out', () => {
    const { pool, clock } = poolOf(urls, { passive: { failures: 1, downFor: 1000 } });
    const first = pool.targets[0] as Target;
    pool.report(first, refused);
    clock.time = 900;
    pool.report(first, refused); // a slow request that started before: the down time is not extended
    clock.time = 1000;
    expect(pool.isHealthy(first)).toBe(true);
  });

  it('ignores aborts and the target’s own answers unless listed', () => {
    const { pool } = poolOf(urls, { passive: { failures: 1, failureStatuses: [502] } });
    const [a, b] = pool.targets as [Target, Target];
    pool.report(a, { kind: 'aborted' });
    pool.report(a, { kind: 'answered', status: 503 });
    pool.report(a, { kind: 'failed', failure: failureOf('connection_limit_reached') });
    expect(pool.isHealthy(a)).toBe(true);
    pool.report(b, { kind: 'answered', status: 502 });
    expect(pool.isHealthy(b)).toBe(false);
  });

  it('is off by default for a single target (its breaker guards it)', () => {
    const { pool } = poolOf(urls[0] as string);
    const only = pool.targets[0] as Target;
    for (let i = 0; i < 10; i++) pool.report(only, refused);
    expect(pool.isHealthy(only)).toBe(true);
  });

  it('with no healthy target, has no candidate and answers 503 with Retry-After until the first comes back', () => {
    const { pool, clock } = poolOf(urls.slice(0, 2), { passive: { failures: 1, downFor: 10_000 } });
    const [a, b] = pool.targets as [Target, Target];
    pool.report(a, refused);
    clock.time = 3000;
    pool.report(b, refused);
    expect(pool.candidates()).toEqual([]);
    const failure = pool.unavailable();
    expect(failure).toMatchObject({ type: 'destination_unavailable', status: 503, phase: 'gateway', retryAfter: 7 });
    clock.time = 9500;
    expect(pool.unavailable().retryAfter).toBe(1);
  });
});

describe('targets: active health over real sockets', () => {
  it('routes around a target whose checks fail, and back when it recovers', async () => {
    const healthy = await start(echoUpstream);
    let status = 503;
    const flapping = await start(() =>
      httpUpstream((req, res) => {
        req.resume();
        res.writeHead(status).end();
      }),
    );
    const { pool } = poolOf([healthy.url, flapping.url], { healthCheck: { interval: 100, timeout: 100 } });
    const flappingTarget = pool.targets[1] as Target;
    const change = async (healthy: boolean) => {
      for (;;) {
        const [next] = (await once(pool, 'health')) as [TargetHealthChange];
        if (next.target === flappingTarget && next.healthy === healthy) return next;
      }
    };
    expect(await change(false)).toMatchObject({ healthy: false, source: 'active' });
    for (let i = 0; i < 4; i++) expect(hosts(pool.candidates())).not.toContain(`127.0.0.1:${flapping.port}`);
    status = 200;
    expect(await change(true)).toMatchObject({ healthy: true, source: 'active' });
    expect(pool.candidates()).toHaveLength(2);
  });

  it('with every target failing its checks, answers 503 with Retry-After until the next check', async () => {
    const a = await start(refusingUpstream);
    const b = await start(refusingUpstream);
    const { pool } = poolOf([a.url, b.url], { healthCheck: { interval: 4000, timeout: 1000 } });
    while (pool.candidates().length > 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const failure = pool.unavailable();
    expect(failure.status).toBe(503);
    expect(failure.type).toBe('destination_unavailable');
    // The next round starts within 4 s and its results are known within 1 s more.
    expect(failure.retryAfter).toBeGreaterThanOrEqual(4);
    expect(failure.retryAfter).toBeLessThanOrEqual(5);
  });

  it('stops its checks when closed', async () => {
    const up = await start(echoUpstream);
    const { pool } = poolOf([up.url], { healthCheck: { interval: 50, timeout: 50 } });
    while (up.requests < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    pool.close();
    const seen = up.requests;
    // A control with the same checks, left running: once it has run two more rounds, the closed pool, had it gone on,
    // would have run one at least. Measured against it, not against a fixed wait, a slow machine changes nothing.
    const control = await start(echoUpstream);
    const running = poolOf([control.url], { healthCheck: { interval: 50, timeout: 50 } });
    while (control.requests < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    running.pool.close();
    expect(up.requests).toBe(seen);
  });
});

describe('targets: failover over real sockets', () => {
  /**
   * A minimal gateway over the pool, shaped like the proxy's attempt loop: take the first candidate, try it, on a
   * failure that never reached the upstream retry once on the next candidate.
   */
  async function gateway(targets: string[], options: TargetPoolOptions) {
    const created = createTargetPool(targets, options);
    pool = created;
    const attempt = (target: Target) =>
      new Promise<{ kind: 'answered'; status: number; body: string } | { kind: 'failed'; failure: GatewayFailure }>(
        (resolve) => {
          request(new URL('/x', target.url), { agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () =>
              resolve({ kind: 'answered', status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
          })
            .on('error', (error) =>
              resolve({ kind: 'failed', failure: classify(error) ?? failureOf('connection_terminated') }),
            )
            .end();
        },
      );
    const server = createServer(async (_req, res) => {
      const tried = new Set<Target>();
      const via: string[] = [];
      for (let n = 1; n <= 2; n++) {
        const [target] = created.candidates(tried);
        if (target === undefined) {
          const failure = created.unavailable();
          res.writeHead(failure.status, { 'retry-after': String(failure.retryAfter), 'x-via': via.join(',') }).end();
          return;
        }
        tried.add(target);
        via.push(target.url.port);
        const outcome = await attempt(target);
        created.report(target, outcome);
        if ('status' in outcome) {
          res.writeHead(outcome.status, { 'x-via': via.join(',') }).end(outcome.body);
          return;
        }
        if (outcome.failure.mayHaveReachedUpstream) break;
      }
      res.writeHead(502, { 'x-via': via.join(',') }).end();
    });
    return servers.serve(server);
  }

  async function get(url: string) {
    const res = await fetch(url);
    return { status: res.status, via: res.headers.get('x-via'), retryAfter: res.headers.get('retry-after') };
  }

  it('fails over from a dead target to a healthy one, then stops sending to the dead one', async () => {
    const dead = await start(refusingUpstream);
    const alive = await start(echoUpstream);
    const url = await gateway([dead.url, alive.url], { passive: { failures: 2, downFor: 60_000 } });
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await get(`${url}/x`));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const viaDead = answers.filter((a) => a.via?.startsWith(String(dead.port)));
    // Round-robin tried the dead target first on requests 1 and 3, failed over each time, then took it out.
    expect(viaDead.map((a) => a.via)).toEqual([`${dead.port},${alive.port}`, `${dead.port},${alive.port}`]);
    expect(answers.slice(3).every((a) => a.via === String(alive.port))).toBe(true);
    expect(alive.requests).toBe(6);
  });

  it('answers 503 with Retry-After when both targets are out', async () => {
    const a = await start(refusingUpstream);
    const b = await start(refusingUpstream);
    const url = await gateway([a.url, b.url], { passive: { failures: 1, downFor: 30_000 } });
    expect((await get(`${url}/x`)).status).toBe(502); // both refused, one after the other: 502
    const answer = await get(`${url}/x`);
    expect(answer.status).toBe(503);
    expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(29);
    expect(Number(answer.retryAfter)).toBeLessThanOrEqual(30);
  });
});
