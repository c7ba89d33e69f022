import { once } from 'node:events';
import { Agent } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import {
  echoUpstream,
  hangingUpstream,
  httpUpstream,
  refusingUpstream,
  statusUpstream,
  type Upstream,
} from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHealthChecker,
  type HealthChecker,
  type HealthCheckResult,
  resolveHealthCheck,
} from '../src/resilience/health.js';
import { memoryStore } from '../src/store/memory-store.js';

const upstreams: Upstream[] = [];
let checker: HealthChecker | undefined;
afterEach(async () => {
  checker?.close();
  checker = undefined;
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

async function start(make: () => Promise<Upstream>): Promise<Upstream> {
  const upstream = await make();
  upstreams.push(upstream);
  return upstream;
}

/** The next change that makes a target `healthy` (a loaded machine may time a check out on the way). */
async function changeTo(target: HealthChecker, healthy: boolean): Promise<HealthCheckResult> {
  for (;;) {
    const [change] = (await once(target, 'change')) as [HealthCheckResult];
    if (change.healthy === healthy && (healthy || change.code !== 'ETIMEDOUT')) return change;
  }
}

/** Long enough that no second round starts during a test unless the test asks for it. */
const quiet = { interval: 60_000, timeout: 2000 };

describe('health checks: options', () => {
  it('has the documented defaults', () => {
    expect(resolveHealthCheck()).toEqual({ path: '/', interval: 5000, timeout: 2000 });
  });

  it.each([
    [{ path: 'health' }, /healthCheck\.path must start with a single "\/".*such as "\/health"/],
    [{ path: '//evil.example/x' }, /healthCheck\.path must start with a single "\/"/],
    [{ path: '/a b' }, /healthCheck\.path must start with a single "\/" and hold no spaces/],
    [{ interval: 0 }, /healthCheck\.interval must be a positive number, such as 5000; got 0/],
    [
      { interval: 1000, timeout: 5000 },
      /timeout \(5000\) is longer than healthCheck\.interval \(1000\); shorten timeout/,
    ],
    [{ intervall: 5 }, /healthCheck has no option "intervall"\. Did you mean "interval"\?/],
  ])('rejects %o', (options, message) => {
    expect(() => resolveHealthCheck(options as object)).toThrow(message);
  });
});

describe('health checks over real sockets', () => {
  it('presumes targets healthy, then keeps them so when they answer 2xx', async () => {
    const up = await start(echoUpstream);
    const target = new URL(up.url);
    checker = createHealthChecker([target], quiet);
    const changes: HealthCheckResult[] = [];
    checker.on('change', (change) => changes.push(change));
    expect(checker.isHealthy(target)).toBe(true);
    await checker.check();
    expect(checker.isHealthy(target)).toBe(true);
    expect(up.requests).toBe(1);
    expect(changes).toEqual([]);
  });

  it.each([
    ['a refused connection', refusingUpstream, { code: 'ECONNREFUSED' }],
    ['a 503 answer', () => statusUpstream({ status: 503 }), { status: 503 }],
    ['a 404 answer', () => statusUpstream({ status: 404 }), { status: 404 }],
    ['no answer within the timeout', hangingUpstream, { code: 'ETIMEDOUT' }],
  ])('marks a target down on %s', async (_name, make, detail) => {
    const down = await start(make);
    const target = new URL(down.url);
    checker = createHealthChecker([target], { interval: 60_000, timeout: 200 });
    const [change] = (await once(checker, 'change')) as [HealthCheckResult];
    expect(change).toEqual({ target, healthy: false, ...detail });
    expect(checker.isHealthy(target)).toBe(false);
  });

  it('checks every target of the list independently', async () => {
    const healthy = await start(echoUpstream);
    const down = await start(refusingUpstream);
    checker = createHealthChecker([new URL(healthy.url), new URL(down.url)], quiet);
    await checker.check();
    expect(checker.isHealthy(new URL(healthy.url))).toBe(true);
    expect(checker.isHealthy(new URL(down.url))).toBe(false);
  });

  it('sees a target recover on a later round, and reports both changes', async () => {
    let status = 503;
    const flapping = await start(() =>
      httpUpstream((req, res) => {
        req.resume();
        res.writeHead(status).end();
      }),
    );
    const target = new URL(flapping.url);
    checker = createHealthChecker([target], { interval: 100, timeout: 100 });
    const down = await changeTo(checker, false);
    expect(down).toMatchObject({ healthy: false, status: 503 });
    status = 200;
    const up = await changeTo(checker, true);
    expect(up).toMatchObject({ healthy: true, status: 200 });
    expect(checker.isHealthy(target)).toBe(true);
  });

  it('requests the check path below the target’s own path, with a query', async () => {
    const seen: string[] = [];
    const up = await start(() =>
      httpUpstream((req, res) => {
        seen.push(`${req.method} ${req.url} ${req.headers['user-agent']}`);
        res.end();
      }),
    );
    checker = createHealthChecker([new URL(`${up.url}/v1/`)], { ...quiet, path: '/health?deep=1' });
    await checker.check();
    expect(seen).toEqual(['GET /v1/health?deep=1 gateway-errors health check']);
  });

  it('uses the agent it is given (the proxy’s, with its TLS settings)', async () => {
    const up = await start(echoUpstream);
    const agent = new Agent({ keepAlive: true });
    let freed = 0;
    agent.on('free', () => freed++);
    checker = createHealthChecker([new URL(up.url)], quiet, { agent });
    await checker.check();
    await checker.check();
    expect(freed).toBe(2);
    // Both checks went over one kept-alive connection.
    expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
    agent.destroy();
  });

  it('knows when the next results come: the next round plus its timeout', async () => {
    const up = await start(echoUpstream);
    checker = createHealthChecker([new URL(up.url)], { interval: 10_000, timeout: 1000 });
    await checker.check();
    const next = checker.nextCheckIn();
    expect(next).toBeGreaterThan(9000);
    expect(next).toBeLessThanOrEqual(11_000);
  });

  it('keeps no timer alive and stops checking once closed', async () => {
    const up = await start(echoUpstream);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    checker = createHealthChecker([new URL(up.url)], { interval: 50, timeout: 50 });
    await checker.check();
    expect(timers()).toBe(before); // the interval timer is unref'd
    checker.close();
    const seen = up.requests;
    // A control with the same interval, left running: once it has run two more rounds, the closed one, had it gone on,
    // would have run one at least. Measured against it, not against a fixed wait, a slow machine changes nothing.
    const control = await start(echoUpstream);
    const running = createHealthChecker([new URL(control.url)], { interval: 50, timeout: 50 });
    try {
      while (control.requests < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      running.close();
    }
    expect(up.requests).toBe(seen);
    expect(await checker.check()).toBeUndefined();
  });

  it('destroys a check still in flight when closed', async () => {
    // An upstream that reads the check and never answers, and tells when its connection closes.
    const hanging = createServer((socket) => socket.on('error', () => {}));
    hanging.listen(0, '127.0.0.1');
    await once(hanging, 'listening');
    const url = new URL(`http://127.0.0.1:${(hanging.address() as AddressInfo).port}`);
    try {
      const connected = once(hanging, 'connection') as Promise<[Socket]>;
      checker = createHealthChecker([url], quiet);
      const [socket] = await connected;
      await once(socket, 'data');
      const changes: HealthCheckResult[] = [];
      checker.on('change', (change) => changes.push(change));
      checker.close();
      // The upstream sees the check's connection close after the checker handled its end: any change would be out.
      await once(socket, 'close');
      expect(changes).toEqual([]);
      expect(checker.isHealthy(url)).toBe(true);
    } finally {
      hanging.close();
    }
  });
});

describe('health checks shared through a store', () => {
  const checkers: HealthChecker[] = [];
  afterEach(() => {
    for (const one of checkers.splice(0)) one.close();
  });
  function sharing(targets: URL[], store: ReturnType<typeof memoryStore>): HealthChecker {
    const made = createHealthChecker(targets, { ...quiet, path: '/health' }, { store });
    checkers.push(made);
    return made;
  }

  it('checks each target from one instance per round, and every instance applies the result', async () => {
    const upstream = await start(() => statusUpstream({ status: 503 }));
    const store = memoryStore();
    const target = new URL(upstream.url);
    const one = sharing([target], store);
    const oneDown = changeTo(one, false);
    const two = sharing([target], store);
    const twoDown = changeTo(two, false);
    await Promise.all([oneDown, twoDown]);
    expect(upstream.requests).toBe(1);
    expect(one.isHealthy(target)).toBe(false);
    expect(two.isHealthy(target)).toBe(false);
    // A second round on both: still one check.
    await Promise.all([one.check(), two.check()]);
    expect(upstream.requests).toBe(2);
  });

  it('checks from every instance while the store is down', async () => {
    const upstream = await start(() => statusUpstream({ status: 200 }));
    const store = memoryStore();
    const target = new URL(upstream.url);
    const one = sharing([target], store);
    const two = sharing([target], store);
    await Promise.all([one.check(), two.check()]);
    const before = upstream.requests;
    store.emit('down', new Error('gone'));
    await Promise.all([one.check(), two.check()]);
    expect(upstream.requests).toBe(before + 2);
  });

  it('ignores a result that is not one', async () => {
    const upstream = await start(() => statusUpstream({ status: 200 }));
    const store = memoryStore();
    const target = new URL(upstream.url);
    const one = sharing([target], store);
    await one.check();
    const key = `health:${target.origin}${target.pathname}|/health`;
    for (const garbage of ['{"healthy":"no"}', 'nope', '[]']) await store.publish(key, garbage);
    await Promise.resolve();
    expect(one.isHealthy(target)).toBe(true);
    const down = changeTo(one, false);
    await store.publish(key, JSON.stringify({ healthy: false, status: 503 }));
    expect(await down).toMatchObject({ healthy: false, status: 503 });
  });
});
