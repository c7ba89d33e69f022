import { get } from 'node:http';
import { httpUpstream, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { classify } from '../src/failure/classify.js';
import { declaredFailure, failureOf } from '../src/failure/failure.js';
import { type BreakerStateChange, createBreaker, resolveBreakerOptions } from '../src/resilience/breaker.js';
import type { AttemptOutcome } from '../src/resilience/verdict.js';

const refused: AttemptOutcome = { kind: 'failed', failure: failureOf('connection_refused') };
const ok: AttemptOutcome = { kind: 'answered', status: 200 };

function fakeClock(random = 0) {
  const clock = { time: 1000, now: () => clock.time, random: () => random };
  return clock;
}

/** A breaker on a fake clock, with every state change recorded. */
function breakerWith(options: Parameters<typeof createBreaker>[0] = {}, random = 0) {
  const clock = fakeClock(random);
  const breaker = createBreaker(options, clock);
  const changes: BreakerStateChange[] = [];
  breaker.on('state', (change) => changes.push(change));
  return { breaker, clock, changes };
}

function fail(breaker: ReturnType<typeof createBreaker>, times: number, result: AttemptOutcome = refused): void {
  for (let i = 0; i < times; i++) breaker.tryAcquire()?.report(result);
}

describe('circuit breaker: options', () => {
  it('has the documented defaults', () => {
    expect(resolveBreakerOptions()).toEqual({
      consecutiveFailures: 5,
      failureRatio: 0.5,
      window: 10000,
      minimumRequests: 20,
      openFor: 5000,
      maxOpenFor: 60000,
      jitter: 0.2,
      probes: 1,
      failureStatuses: [],
      shared: false,
    });
    expect(Object.isFrozen(resolveBreakerOptions())).toBe(true);
  });

  it.each([
    [{ consecutiveFailures: 0 }, /breaker\.consecutiveFailures must be a whole number from 1 to 10000; got 0/],
    [{ failureRatio: 0 }, /breaker\.failureRatio must be a number above 0 and at most 1/],
    [
      { openFor: 10_000, maxOpenFor: 5000 },
      /maxOpenFor \(5000\) is shorter than breaker\.openFor \(10000\); raise maxOpenFor/,
    ],
    [{ jitter: 2 }, /breaker\.jitter must be a number from 0 to 1/],
    [{ probes: 1.5 }, /breaker\.probes must be a whole number from 1 to 100/],
    [
      { failureStatuses: [404] },
      /breaker\.failureStatuses must be a list of statuses from 500 to 599, such as \[502, 503\]; got \[404\]/,
    ],
    [{ openfor: 1 }, /breaker has no option "openfor"\. Did you mean "openFor"\?/],
  ])('rejects %o with a message that names the fix', (options, message) => {
    expect(() => createBreaker(options as object)).toThrow(message);
  });
});

describe('circuit breaker: closed to open', () => {
  it('opens after consecutive failures, then fails fast with 503 destination_unavailable', () => {
    const { breaker, changes } = breakerWith({ consecutiveFailures: 3 });
    fail(breaker, 2);
    expect(breaker.state).toBe('closed');
    fail(breaker, 1);
    expect(breaker.state).toBe('open');
    expect(changes).toEqual([{ from: 'closed', to: 'open', reason: 'consecutive-failures', openFor: 5000 }]);
    expect(breaker.tryAcquire()).toBeUndefined();
    const failure = breaker.rejection();
    expect(failure).toMatchObject({ type: 'destination_unavailable', status: 503, phase: 'gateway', retryAfter: 5 });
    expect(failure.mayHaveReachedUpstream).toBe(false);
  });

  it('a success resets the consecutive count', () => {
    const { breaker } = breakerWith({ consecutiveFailures: 3 });
    fail(breaker, 2);
    breaker.tryAcquire()?.report(ok);
    fail(breaker, 2);
    expect(breaker.state).toBe('closed');
  });

  it('opens on the failure ratio over the window once enough requests were seen', () => {
    const { breaker, changes } = breakerWith({ consecutiveFailures: 100, minimumRequests: 10, failureRatio: 0.5 });
    // Alternate failure and success: never two failures in a row, but half of all attempts fail.
    for (let i = 0; i < 4; i++) {
      fail(breaker, 1);
      breaker.tryAcquire()?.report(ok);
    }
    expect(breaker.state).toBe('closed'); // 8 attempts: below minimumRequests
    fail(breaker, 1);
    expect(breaker.state).toBe('closed'); // 9
    breaker.tryAcquire()?.report(ok);
    fail(breaker, 1); // 11 attempts, 6 failed
    expect(breaker.state).toBe('open');
    expect(changes.at(-1)?.reason).toBe('failure-ratio');
  });

  it('forgets failures that left the window', () => {
    const { breaker, clock } = breakerWith({
      consecutiveFailures: 100,
      minimumRequests: 4,
      failureRatio: 0.5,
      window: 1000,
    });
    fail(breaker, 3);
    clock.time += 2000;
    breaker.tryAcquire()?.report(ok);
    fail(breaker, 1); // 2 attempts in the window: not enough
    expect(breaker.state).toBe('closed');
  });

  it('does not count client aborts, gateway-local failures, or the upstream’s own answers', () => {
    const { breaker } = breakerWith({ consecutiveFailures: 2 });
    const outcomes: AttemptOutcome[] = [
      { kind: 'aborted' },
      { kind: 'answered', status: 503 },
      { kind: 'answered', status: 500 },
      { kind: 'answered', status: 404 },
      { kind: 'failed', failure: declaredFailure(502, { receivedStatus: 502, phase: 'response-head' }) },
      { kind: 'failed', failure: failureOf('connection_limit_reached') },
    ];
    for (const result of outcomes) {
      fail(breaker, 3, result);
    }
    expect(breaker.state).toBe('closed');
  });

  it('counts the statuses listed in failureStatuses', () => {
    const { breaker } = breakerWith({ consecutiveFailures: 2, failureStatuses: [503] });
    fail(breaker, 1, { kind: 'answered', status: 503 });
    fail(breaker, 1, {
      kind: 'failed',
      failure: declaredFailure(503, { receivedStatus: 503, phase: 'response-head' }),
    });
    expect(breaker.state).toBe('open');
  });

  it('counts only the first report of a permit', () => {
    const { breaker } = breakerWith({ consecutiveFailures: 2 });
    const permit = breaker.tryAcquire();
    permit?.report(refused);
    permit?.report(refused);
    permit?.report(refused);
    expect(breaker.state).toBe('closed');
  });
});

describe('circuit breaker: open, half-open, closed', () => {
  it('sends a decreasing Retry-After while open, then lets one probe through', () => {
    const { breaker, clock, changes } = breakerWith({ consecutiveFailures: 1, openFor: 5000 });
    fail(breaker, 1);
    expect(breaker.remaining()).toBe(5000);
    expect(breaker.rejection().retryAfter).toBe(5);
    clock.time += 1500;
    expect(breaker.rejection().retryAfter).toBe(4); // 3.5 s left, rounded up
    clock.time += 3000;
    expect(breaker.rejection().retryAfter).toBe(1);
    clock.time += 500;
    expect(breaker.remaining()).toBe(0);
    expect(breaker.state).toBe('half-open');
    const probe = breaker.tryAcquire();
    expect(probe?.probe).toBe(true);
    expect(breaker.tryAcquire()).toBeUndefined(); // one probe at a time
    expect(breaker.rejection().retryAfter).toBe(1);
    probe?.report(ok);
    expect(breaker.state).toBe('closed');
    expect(breaker.tryAcquire()?.probe).toBe(false);
    expect(changes.map((c) => `${c.from}>${c.to}:${c.reason}`)).toEqual([
      'closed>open:consecutive-failures',
      'open>half-open:open-time-over',
      'half-open>closed:probes-succeeded',
    ]);
  });

  it('reopens on a failed probe, doubling the open time up to maxOpenFor', () => {
    const { breaker, clock, changes } = breakerWith({ consecutiveFailures: 1, openFor: 1000, maxOpenFor: 5000 });
    fail(breaker, 1);
    const openTimes = [breaker.remaining()];
    for (let i = 0; i < 4; i++) {
      clock.time += breaker.remaining();
      breaker.tryAcquire()?.report(refused);
      openTimes.push(breaker.remaining());
    }
    expect(openTimes).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(changes.filter((c) => c.to === 'open').map((c) => c.reason)).toEqual([
      'consecutive-failures',
      'probe-failed',
      'probe-failed',
      'probe-failed',
      'probe-failed',
    ]);
    // Closing resets the growth.
    clock.time += breaker.remaining();
    breaker.tryAcquire()?.report(ok);
    fail(breaker, 1);
    expect(breaker.remaining()).toBe(1000);
  });

  it('takes up to `jitter` of the open time off at random, never adding to it', () => {
    const longest = breakerWith({ consecutiveFailures: 1, openFor: 10_000, jitter: 0.2 }, 0);
    fail(longest.breaker, 1);
    expect(longest.breaker.remaining()).toBe(10_000);
    const shortest = breakerWith({ consecutiveFailures: 1, openFor: 10_000, jitter: 0.2 }, 0.999);
    fail(shortest.breaker, 1);
    expect(shortest.breaker.remaining()).toBeCloseTo(8002, 0);
    expect(shortest.changes[0]?.openFor).toBeCloseTo(8002, 0);
  });

  it('closes only after `probes` successful probes, and lets that many through at once', () => {
    const { breaker, clock } = breakerWith({ consecutiveFailures: 1, probes: 3 });
    fail(breaker, 1);
    clock.time += breaker.remaining();
    const probes = [breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()];
    expect(probes.every((p) => p?.probe === true)).toBe(true);
    expect(breaker.tryAcquire()).toBeUndefined();
    probes[0]?.report(ok);
    probes[1]?.report(ok);
    expect(breaker.state).toBe('half-open');
    probes[2]?.report(ok);
    expect(breaker.state).toBe('closed');
  });

  it('frees a probe slot when the probe’s client went away, without a verdict', () => {
    const { breaker, clock } = breakerWith({ consecutiveFailures: 1 });
    fail(breaker, 1);
    clock.time += breaker.remaining();
    breaker.tryAcquire()?.report({ kind: 'aborted' });
    expect(breaker.state).toBe('half-open');
    const next = breaker.tryAcquire();
    expect(next?.probe).toBe(true);
    next?.report(ok);
    expect(breaker.state).toBe('closed');
  });

  it('ignores reports of permits taken before the last change', () => {
    const { breaker, clock } = breakerWith({ consecutiveFailures: 2 });
    const stale = [breaker.tryAcquire(), breaker.tryAcquire(), breaker.tryAcquire()];
    stale[0]?.report(refused);
    stale[1]?.report(refused);
    expect(breaker.state).toBe('open');
    clock.time += breaker.remaining();
    const probe = breaker.tryAcquire();
    stale[2]?.report(ok); // a slow request from the closed days: not a probe
    expect(breaker.state).toBe('half-open');
    probe?.report(ok);
    expect(breaker.state).toBe('closed');
  });

  it('forgets a probe that never reports after maxOpenFor', () => {
    const { breaker, clock } = breakerWith({ consecutiveFailures: 1, openFor: 1000, maxOpenFor: 2000 });
    fail(breaker, 1);
    clock.time += breaker.remaining();
    expect(breaker.tryAcquire()?.probe).toBe(true); // lost
    expect(breaker.tryAcquire()).toBeUndefined();
    clock.time += 2001;
    expect(breaker.tryAcquire()?.probe).toBe(true);
  });
});

describe('circuit breaker over real sockets', () => {
  let upstream: Upstream | undefined;
  afterEach(async () => {
    await upstream?.close();
    upstream = undefined;
  });

  /** One GET through the breaker: fails fast while open, reports every real outcome. */
  function attempt(breaker: ReturnType<typeof createBreaker>, url: string): Promise<string> {
    const permit = breaker.tryAcquire();
    if (permit === undefined) return Promise.resolve(`fast ${breaker.rejection().status}`);
    return new Promise((resolve) => {
      get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          permit.report({ kind: 'answered', status: res.statusCode ?? 0 });
          resolve(`answered ${res.statusCode}`);
        });
      }).on('error', (error) => {
        const failure = classify(error) ?? failureOf('connection_terminated');
        permit.report({ kind: 'failed', failure });
        resolve(failure.type ?? 'unknown');
      });
    });
  }

  it('opens on real resets, fails fast without touching the upstream, half-opens and closes', async () => {
    let down = true;
    upstream = await httpUpstream((req, res) => {
      if (down) req.socket.resetAndDestroy();
      else res.end('ok');
    });
    const { breaker, clock, changes } = breakerWith({ consecutiveFailures: 3, openFor: 5000 });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) seen.push(await attempt(breaker, upstream.url));
    expect(seen).toEqual(['connection_terminated', 'connection_terminated', 'connection_terminated']);
    const reached = upstream.requests;
    expect(await attempt(breaker, upstream.url)).toBe('fast 503');
    expect(upstream.requests).toBe(reached);
    down = false;
    clock.time += 5000;
    expect(await attempt(breaker, upstream.url)).toBe('answered 200');
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => c.to)).toEqual(['open', 'half-open', 'closed']);
  });
});
