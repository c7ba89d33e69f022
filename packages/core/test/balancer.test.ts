import { createServer, request } from 'node:http';
import { echoUpstream, httpUpstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { testServers } from '../../../test/support/servers.js';
import { classify } from '../src/failure/classify.js';
import { failureOf } from '../src/failure/failure.js';
import {
  type Balancer,
  type BalancerOptions,
  createBalancer,
  type TargetBreakerChange,
} from '../src/resilience/balancer.js';
import type { Target, TargetHealthChange } from '../src/resilience/targets.js';
import type { AttemptOutcome } from '../src/resilience/verdict.js';

const refused: AttemptOutcome = { kind: 'failed', failure: failureOf('connection_refused') };
const urls = ['http://10.0.0.1:4000', 'http://10.0.0.2:4000'];

let balancer: Balancer | undefined;
afterEach(() => {
  balancer?.close();
  balancer = undefined;
});

function balancerOf(targets: string | string[], options?: BalancerOptions) {
  const clock = { time: 0, now: () => clock.time, random: () => 0 };
  balancer = createBalancer(targets, options, clock);
  const breakers: TargetBreakerChange[] = [];
  const health: TargetHealthChange[] = [];
  balancer.on('breaker', (change) => breakers.push(change));
  balancer.on('health', (change) => health.push(change));
  return { balancer, clock, breakers, health };
}

function chosen(choice: ReturnType<Balancer['choose']>): Extract<typeof choice, { ok: true }> {
  if (!choice.ok) throw new Error(`expected a target, got ${choice.failure.type}`);
  return choice;
}

describe('balancer', () => {
  it('alternates between healthy targets and reports to breaker and passive health once', () => {
    const { balancer } = balancerOf(urls, { passive: { failures: 2 }, breaker: { consecutiveFailures: 2 } });
    const a = chosen(balancer.choose());
    const b = chosen(balancer.choose());
    expect([a.target.index, b.target.index]).toEqual([0, 1]);
    a.report(refused);
    a.report(refused); // ignored: one report per choice
    expect(balancer.breakerOf(a.target)?.state).toBe('closed');
  });

  it('skips a target whose circuit is open, and fails over to the other', () => {
    const { balancer, breakers } = balancerOf(urls, { passive: false, breaker: { consecutiveFailures: 1 } });
    const first = chosen(balancer.choose());
    first.report(refused);
    expect(breakers).toEqual([
      expect.objectContaining({ target: first.target, from: 'closed', to: 'open', reason: 'consecutive-failures' }),
    ]);
    for (let i = 0; i < 4; i++) expect(chosen(balancer.choose()).target).not.toBe(first.target);
  });

  it('puts the targets this request tried last', () => {
    const { balancer } = balancerOf(urls);
    const first = chosen(balancer.choose());
    const tried = new Set<Target>([first.target]);
    expect(chosen(balancer.choose(tried)).target).not.toBe(first.target);
  });

  it('when every circuit is open, answers 503 with the shortest remaining open time', () => {
    const { balancer, clock } = balancerOf(urls, {
      passive: false,
      breaker: { consecutiveFailures: 1, openFor: 10_000 },
    });
    chosen(balancer.choose()).report(refused);
    clock.time = 4000;
    chosen(balancer.choose()).report(refused);
    const choice = balancer.choose();
    expect(choice.ok).toBe(false);
    if (!choice.ok) {
      expect(choice.failure).toMatchObject({ type: 'destination_unavailable', status: 503, retryAfter: 6 });
    }
    clock.time = 10_000;
    const probe = chosen(balancer.choose());
    expect(probe.target.index).toBe(0);
    expect(balancer.breakerOf(probe.target)?.state).toBe('half-open');
  });

  it('when no target is healthy, answers 503 with Retry-After until one comes back', () => {
    const { balancer, clock, health } = balancerOf(urls, { passive: { failures: 1, downFor: 20_000 }, breaker: false });
    chosen(balancer.choose()).report(refused);
    chosen(balancer.choose()).report(refused);
    expect(health.map((h) => h.healthy)).toEqual([false, false]);
    clock.time = 5000;
    const choice = balancer.choose();
    expect(choice.ok).toBe(false);
    if (!choice.ok) expect(choice.failure.retryAfter).toBe(15);
  });

  it('frees a half-open probe when its client went away', () => {
    const { balancer, clock } = balancerOf(urls[0] as string, { breaker: { consecutiveFailures: 1 } });
    chosen(balancer.choose()).report(refused);
    clock.time = 5000;
    chosen(balancer.choose()).report({ kind: 'aborted' });
    const probe = chosen(balancer.choose());
    probe.report({ kind: 'answered', status: 200 });
    expect(balancer.breakerOf(probe.target)?.state).toBe('closed');
  });

  it('works without breakers', () => {
    const { balancer } = balancerOf(urls[0] as string, { breaker: false });
    const choice = chosen(balancer.choose());
    for (let i = 0; i < 20; i++) choice.report(refused);
    expect(balancer.breakerOf(choice.target)).toBeUndefined();
    expect(balancer.choose().ok).toBe(true);
  });

  it.each([
    [{ breaker: { probes: 0 } }, /breaker\.probes must be a whole number from 1 to 100/],
    [{ breakers: {} }, /gatewayProxy\(\) has no option "breakers"\. Did you mean "breaker"\?/],
    [{ passive: { downFor: -1 } }, /passive\.downFor must be a positive number/],
  ])('validates %o once', (options, message) => {
    expect(() => createBalancer(urls, options as object)).toThrow(message);
  });
});

describe('balancer over real sockets', () => {
  const servers = testServers();

  /** The proxy's attempt loop in miniature: choose, attempt, report, retry once elsewhere if it never got there. */
  async function gateway(targets: string[], options: BalancerOptions, clock: { now: () => number }) {
    const created = createBalancer(targets, options, { now: clock.now, random: () => 0 });
    balancer = created;
    const server = createServer(async (req, res) => {
      const tried = new Set<Target>();
      for (let attempt = 1; ; attempt++) {
        const choice = created.choose(tried);
        if (!choice.ok) {
          res.writeHead(503, { 'retry-after': String(choice.failure.retryAfter) }).end(choice.failure.type);
          return;
        }
        tried.add(choice.target);
        const result = await new Promise<AttemptOutcome & { body?: string }>((resolve) => {
          request(new URL(req.url ?? '/', choice.target.url), { agent: false }, (upstreamRes) => {
            let body = '';
            upstreamRes.setEncoding('utf8').on('data', (c: string) => (body += c));
            upstreamRes.on('end', () => resolve({ kind: 'answered', status: upstreamRes.statusCode ?? 0, body }));
          })
            .on('error', (error) =>
              resolve({ kind: 'failed', failure: classify(error) ?? failureOf('connection_terminated') }),
            )
            .end();
        });
        choice.report(result);
        if ('status' in result) {
          res.writeHead(result.status, { 'x-target': String(choice.target.index) }).end(result.body);
          return;
        }
        if (attempt === 2 || ('failure' in result && result.failure.mayHaveReachedUpstream)) {
          res.writeHead(502).end('failure' in result ? result.failure.type : '');
          return;
        }
      }
    });
    return servers.serve(server);
  }

  async function get(url: string) {
    const res = await fetch(url);
    return {
      status: res.status,
      target: res.headers.get('x-target'),
      retryAfter: res.headers.get('retry-after'),
      body: await res.text(),
    };
  }

  it('moves traffic off a target that resets, fails fast when both are out, and comes back after the open time', async () => {
    const healthy = await servers.stopAfter(echoUpstream());
    let down = true;
    const flaky = await servers.stopAfter(
      httpUpstream((req, res) => {
        if (down) req.socket.resetAndDestroy();
        else res.end('back\n');
      }),
    );
    const clock = { time: 0, now: () => clock.time };
    const url = await gateway(
      [flaky.url, healthy.url],
      { passive: false, breaker: { consecutiveFailures: 2, openFor: 5000 } },
      clock,
    );
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await get(`${url}/x`));
    // A reset may have reached the upstream, so this loop does not retry it: the flaky target answers 502 on
    // requests 1 and 3 (round-robin), then its circuit is open and every request goes to the healthy one.
    expect(answers.map((a) => a.status)).toEqual([502, 200, 502, 200, 200, 200]);
    expect(answers.slice(3).map((a) => a.target)).toEqual(['1', '1', '1']);
    const reached = flaky.requests;
    down = false;
    clock.time = 5000;
    const again = [await get(`${url}/x`), await get(`${url}/x`)];
    expect(again.map((a) => a.target).sort()).toEqual(['0', '1']);
    expect(flaky.requests).toBe(reached + 1);
    expect(balancer?.breakerOf(balancer.targets[0] as Target)?.state).toBe('closed');
  });
});
