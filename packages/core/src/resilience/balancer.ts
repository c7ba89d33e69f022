import { EventEmitter } from 'node:events';
import { checkOptions } from '../config/checks.js';
import type { GatewayFailure } from '../failure/failure.js';
import {
  type BreakerOptions,
  type BreakerStateChange,
  type CircuitBreaker,
  createBreaker,
  type ResolvedBreakerOptions,
  resolveBreakerOptions,
} from './breaker.js';
import type { Clock } from './clock.js';
import { type CircuitSharing, shareCircuit } from './shared-circuit.js';
import {
  type ResolvedTargetPoolOptions,
  resolveTargetPoolOptions,
  resolveTargets,
  type Target,
  type TargetHealthChange,
  type TargetPool,
  type TargetPoolOptions,
  type TargetPoolRuntime,
  targetPoolOf,
  targetsOf,
} from './targets.js';
import type { AttemptOutcome } from './verdict.js';

/** Options of the balancer: the pool's (passive and active health) and the breaker of each target. */
export interface BalancerOptions extends TargetPoolOptions {
  /**
   * A circuit breaker per target, or `false` for none.
   * @default {} (on, with the breaker's defaults)
   */
  breaker?: false | BreakerOptions;
}

/** Where one attempt goes, or why it goes nowhere. */
export type Choice =
  | {
      readonly ok: true;
      readonly target: Target;
      /**
       * Reports how the attempt ended, to the target's breaker and to passive health. Call it once, for every
       * outcome (a client abort too: it frees a half-open probe); later calls do nothing.
       */
      readonly report: (outcome: AttemptOutcome) => void;
    }
  | {
      readonly ok: false;
      /**
       * 503 destination_unavailable. Retry-After: the shortest remaining open time when healthy targets all have
       * an open circuit; the time until the first target may be healthy again when none is.
       */
      readonly failure: GatewayFailure;
    };

/** A breaker's state change, with the target it belongs to. */
export interface TargetBreakerChange extends BreakerStateChange {
  target: Target;
}

/** Events of a balancer, for the proxy to pass on. */
export interface BalancerEvents {
  breaker: [TargetBreakerChange];
  health: [TargetHealthChange];
}

/** Chooses the upstream of each attempt. */
export interface Balancer extends EventEmitter<BalancerEvents> {
  /** Every target, in configured order (`target.index` is the position). */
  readonly targets: readonly Target[];
  /**
   * The target for the next attempt of a request: the first healthy one in round-robin order whose breaker lets
   * it through, those in `tried` (already tried by this request) last, so that a retry fails over.
   */
  choose(tried?: ReadonlySet<Target>): Choice;
  /** The breaker of `target`, when breakers are on. */
  breakerOf(target: Target): CircuitBreaker | undefined;
  /** Stops the active health checks, and listening to the store. */
  close(): void;
}

/** The proxy's agent for the health checks, its store (shared health, shared circuits), and a clock for tests. */
export interface BalancerRuntime extends TargetPoolRuntime {
  /** The jitter source of the breakers' open time. */
  random?: Clock['random'];
}

class RoundRobinBalancer extends EventEmitter<BalancerEvents> implements Balancer {
  readonly #pool: TargetPool;
  readonly #breakers: readonly (CircuitBreaker | undefined)[];
  readonly #sharing: CircuitSharing[] = [];

  constructor(pool: TargetPool, breaker: false | ResolvedBreakerOptions, runtime: BalancerRuntime) {
    super();
    this.#pool = pool;
    pool.on('health', (change) => {
      if (this.listenerCount('health') > 0) this.emit('health', change);
    });
    this.#breakers = pool.targets.map((target) => {
      if (breaker === false) return undefined;
      let sharing: CircuitSharing | undefined;
      const created = createBreaker(
        breaker,
        { now: runtime.now, random: runtime.random },
        () => sharing?.mayProbe() ?? true,
      );
      created.on('state', (change) => {
        if (this.listenerCount('breaker') > 0) this.emit('breaker', { ...change, target });
      });
      if (breaker.shared && runtime.store !== undefined) {
        // The target as every instance names it: what is requested, never the URL's credentials.
        sharing = shareCircuit(created, runtime.store, `${target.url.origin}${target.url.pathname}`, breaker);
        this.#sharing.push(sharing);
      }
      return created;
    });
  }

  get targets(): readonly Target[] {
    return this.#pool.targets;
  }

  choose(tried?: ReadonlySet<Target>): Choice {
    const candidates = this.#pool.candidates(tried);
    // The open circuit that closes first: its rejection says when to come back.
    let soonest: CircuitBreaker | undefined;
    let soonestWait = Number.POSITIVE_INFINITY;
    for (const target of candidates) {
      const breaker = this.#breakers[target.index];
      const permit = breaker?.tryAcquire();
      if (breaker !== undefined && permit === undefined) {
        const wait = breaker.remaining();
        if (soonest === undefined || wait < soonestWait) [soonest, soonestWait] = [breaker, wait];
        continue;
      }
      let reported = false;
      return {
        ok: true,
        target,
        report: (outcome) => {
          if (reported) return;
          reported = true;
          permit?.report(outcome);
          this.#pool.report(target, outcome);
        },
      };
    }
    return { ok: false, failure: soonest?.rejection() ?? this.#pool.unavailable() };
  }

  breakerOf(target: Target): CircuitBreaker | undefined {
    return this.#breakers[target.index];
  }

  close(): void {
    this.#pool.close();
    for (const sharing of this.#sharing.splice(0)) sharing.close();
  }
}

/**
 * Creates the balancer of a proxy over one target or several: round-robin over the healthy targets, failover on
 * retries, passive and active health, and a circuit breaker per target. Options are validated once, here.
 * @example
 * const balancer = createBalancer(['http://10.0.0.1:4000', 'http://10.0.0.2:4000'], { healthCheck: { path: '/health' } });
 * const choice = balancer.choose(tried);
 * if (!choice.ok) return errorOf(choice.failure); // 503 destination_unavailable with Retry-After
 * tried.add(choice.target);
 * choice.report(await attempt(choice.target)); // { kind: 'answered', status } | { kind: 'failed', failure } | { kind: 'aborted' }
 */
export function createBalancer(
  target: string | URL | readonly (string | URL)[],
  options: BalancerOptions = {},
  runtime: BalancerRuntime = {},
): Balancer {
  checkOptions(options, ['passive', 'healthCheck', 'breaker'], 'gatewayProxy()');
  const { breaker = {}, ...poolOptions } = options;
  const targets = targetsOf(resolveTargets(target));
  // Everything is validated before the pool starts its health checks, so a bad option leaves nothing running.
  const breakerOptions = breaker === false ? false : resolveBreakerOptions(breaker);
  return balancerOf(targets, breakerOptions, resolveTargetPoolOptions(poolOptions, targets.length), runtime);
}

/** A balancer over targets and options already resolved (a proxy's: `resolveProxyOptions` checked them once). */
export function balancerOf(
  targets: readonly Target[],
  breaker: ResolvedBreakerOptions | false,
  pool: ResolvedTargetPoolOptions,
  runtime: BalancerRuntime = {},
): Balancer {
  return new RoundRobinBalancer(targetPoolOf(targets, pool, runtime), breaker, runtime);
}
