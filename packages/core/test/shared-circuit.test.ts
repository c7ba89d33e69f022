import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { failureOf } from '../src/failure/failure.js';
import { createProxy } from '../src/proxy/proxy.js';
import {
  type BreakerStateChange,
  type CircuitBreaker,
  createBreaker,
  resolveBreakerOptions,
} from '../src/resilience/breaker.js';
import { type CircuitSharing, shareCircuit } from '../src/resilience/shared-circuit.js';
import type { AttemptOutcome } from '../src/resilience/verdict.js';
import { memoryStore } from '../src/store/memory-store.js';
import type { GatewayStore } from '../src/store/store.js';

const refused: AttemptOutcome = { kind: 'failed', failure: failureOf('connection_refused') };
const ok: AttemptOutcome = { kind: 'answered', status: 200 };
const options = resolveBreakerOptions({ consecutiveFailures: 2, openFor: 5000, jitter: 0, shared: true });

/** One instance's breaker of the target, on a fake clock, sharing its circuit through `store`. */
function instance(store: GatewayStore) {
  const clock = { time: 1000, now: () => clock.time, random: () => 0 };
  let sharing: CircuitSharing | undefined;
  const breaker = createBreaker(options, clock, () => sharing?.mayProbe() ?? true);
  sharing = shareCircuit(breaker, store, 'http://10.0.0.1:4000/', options);
  return { breaker, clock, sharing };
}

function nextState(breaker: CircuitBreaker): Promise<BreakerStateChange> {
  return once(breaker, 'state').then(([change]) => change as BreakerStateChange);
}

/** The next change of `breaker` to `to` (a circuit whose time is over passes through half-open on the way). */
function changeTo(breaker: CircuitBreaker, to: BreakerStateChange['to']): Promise<BreakerStateChange> {
  return new Promise((resolve) => {
    const onState = (change: BreakerStateChange) => {
      if (change.to !== to) return;
      breaker.off('state', onState);
      resolve(change);
    };
    breaker.on('state', onState);
  });
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.tryAcquire()?.report(refused);
}

describe('breaker.shared: an open circuit shared through a store', () => {
  it('opens the circuit on every instance until the same time, and lets one instance probe', async () => {
    const store = memoryStore();
    const one = instance(store);
    const two = instance(store);
    const heard = nextState(two.breaker);
    fail(one.breaker, 2);
    expect(one.breaker.state).toBe('open');
    expect(await heard).toMatchObject({ from: 'closed', to: 'open', reason: 'shared' });
    expect(two.breaker.tryAcquire()).toBeUndefined();
    expect(two.breaker.rejection().retryAfter).toBe(5);

    // The open time is over on both: only the instance that opened it (it holds the probe lock) probes.
    one.clock.time += 5001;
    two.clock.time += 5001;
    expect(two.breaker.tryAcquire()).toBeUndefined();
    expect(two.breaker.state).toBe('half-open');
    const probe = one.breaker.tryAcquire();
    expect(probe?.probe).toBe(true);
    const closed = nextState(two.breaker);
    probe?.report(ok);
    expect(one.breaker.state).toBe('closed');
    expect(await closed).toMatchObject({ from: 'half-open', to: 'closed', reason: 'shared' });
    expect(two.breaker.tryAcquire()?.probe).toBe(false);
  });

  it('reopens it everywhere when the probe fails', async () => {
    const store = memoryStore();
    const one = instance(store);
    const two = instance(store);
    const opened = nextState(two.breaker);
    fail(one.breaker, 2);
    await opened;
    one.clock.time += 5001;
    two.clock.time += 5001;
    const reopened = changeTo(two.breaker, 'open');
    one.breaker.tryAcquire()?.report(refused);
    expect(one.breaker.state).toBe('open');
    expect(await reopened).toMatchObject({ from: 'half-open', to: 'open', reason: 'shared' });
    // The second opening lasts twice as long, everywhere.
    expect(two.breaker.remaining()).toBeGreaterThan(9000);
  });

  it('opens a new instance’s circuit when it is open elsewhere', async () => {
    const store = memoryStore();
    const one = instance(store);
    fail(one.breaker, 2);
    await Promise.resolve();
    const later = instance(store);
    expect(await nextState(later.breaker)).toMatchObject({ to: 'open', reason: 'shared' });
  });

  it('lets each instance probe for itself while the store is down', async () => {
    const store = memoryStore();
    const one = instance(store);
    const two = instance(store);
    const opened = nextState(two.breaker);
    fail(one.breaker, 2);
    await opened;
    two.clock.time += 5001;
    expect(two.breaker.tryAcquire()).toBeUndefined();
    store.emit('down', new Error('gone'));
    expect(two.breaker.tryAcquire()?.probe).toBe(true);
  });

  it('is off by default, and needs the proxy’s store', () => {
    expect(resolveBreakerOptions().shared).toBe(false);
    expect(() => createProxy({ target: 'http://127.0.0.1:1', breaker: { shared: true } })).toThrow(
      /breaker\.shared shares open circuits through the proxy's store, and there is none: give store/,
    );
    expect(() => createProxy({ target: 'http://127.0.0.1:1', store: {} as never })).toThrow(
      /store must be a GatewayStore/,
    );
  });
});
