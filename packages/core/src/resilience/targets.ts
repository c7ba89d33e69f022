import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { checkOptions, positiveNumber, statusList, wholeNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { failureOf, type GatewayFailure } from '../failure/failure.js';
import { type Clock, resolveClock } from './clock.js';
import {
  createHealthChecker,
  type HealthCheckConnection,
  type HealthChecker,
  type HealthCheckOptions,
  type ResolvedHealthCheckOptions,
  resolveHealthCheck,
} from './health.js';
import { type AttemptOutcome, verdictOf } from './verdict.js';

/** Passive health: a target that fails real requests is taken out of rotation for a while. */
export interface PassiveHealthOptions {
  /**
   * Consecutive failed attempts (refused, reset, timed out...) that take a target out of rotation.
   * @default 3
   */
  failures?: number;
  /**
   * How long it stays out, in milliseconds. When it comes back, its first failure takes it out again; a success
   * clears the count.
   * @default 10000
   */
  downFor?: number;
  /**
   * Statuses of the target's own answers that count as failures, as for the breaker.
   * @default []
   */
  failureStatuses?: readonly number[];
}

/** Options of a pool of targets. */
export interface TargetPoolOptions {
  /**
   * Passive health, or `false` for none.
   * @default { failures: 3, downFor: 10000 } with several targets; false with one (its circuit breaker guards it)
   */
  passive?: false | PassiveHealthOptions;
  /**
   * Active health checks, such as `{ path: '/health', interval: 5000, timeout: 2000 }`.
   * @default undefined (no active checks)
   */
  healthCheck?: HealthCheckOptions;
}

/** One upstream: where attempts go, as the pool, the breakers and the engine all see it. Derived once from its URL. */
export interface Target {
  /** The target URL; its path prefixes every forwarded path. */
  readonly url: URL;
  /** `protocol//host:port`, for events and diagnostics. Internal: never shown to clients outside development. */
  readonly origin: string;
  /** Its position in the configured list. */
  readonly index: number;
  /** The host to connect to: the URL's host name, an IPv6 literal without its brackets. */
  readonly hostname: string;
  /** Whether connecting means resolving a name first (a host name, not an IP literal). */
  readonly resolvesName: boolean;
  /** Whether a TLS handshake follows the TCP connect. */
  readonly secure: boolean;
}

/** A change of a target's health, for logs and metrics. */
export interface TargetHealthChange {
  target: Target;
  healthy: boolean;
  /** What noticed: failed requests, their end of the down time, or an active check. */
  source: 'passive' | 'active';
}

/** Events of a pool. */
export interface TargetPoolEvents {
  health: [TargetHealthChange];
}

/** Several targets, round-robin over the healthy ones, with failover. */
export interface TargetPool extends EventEmitter<TargetPoolEvents> {
  /** Every target, in configured order. */
  readonly targets: readonly Target[];
  /**
   * The healthy targets for the next attempt, best first: round-robin order, then those in `tried` (already tried
   * for this request) moved to the end, so a retry fails over to another healthy target when there is one. Empty
   * when none is healthy: answer with {@link unavailable}.
   */
  candidates(tried?: ReadonlySet<Target>): Target[];
  /** Reports how an attempt against `target` ended (passive health). */
  report(target: Target, outcome: AttemptOutcome): void;
  /** Whether `target` is in rotation now. */
  isHealthy(target: Target): boolean;
  /** 503 destination_unavailable, Retry-After = the time until the first target may be healthy again. */
  unavailable(): GatewayFailure;
  /** Stops the active health checks. */
  close(): void;
}

/** How the pool connects and tells time: the proxy's agent for health checks; a clock for tests. */
export interface TargetPoolRuntime extends HealthCheckConnection {
  /** Milliseconds on a monotonic clock, for the passive down time. */
  now?: Clock['now'];
}

/** Validated pool settings. */
export interface ResolvedTargetPoolOptions {
  readonly passive: Readonly<Required<PassiveHealthOptions>> | false;
  readonly healthCheck: ResolvedHealthCheckOptions | undefined;
}

/**
 * The URL a target written without its scheme meant: `localhost:4000`, `api.internal:8080/v1`, `//127.0.0.1:4000`
 * and `http//host` get `http://` (a gateway's upstreams are most often plain HTTP on a private network: the user
 * adds the `s` when it is not), and a bare port (`4000`, `':4000'`) is on this machine, `http://127.0.0.1:4000`
 * (never `localhost`, which may resolve to `::1` where the upstream is not listening). `undefined` when the value
 * does not look like a host or a port: it is then shown as it is.
 */
export function withScheme(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) value = String(value);
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  const port = /^:?(\d{1,5})$/.exec(text)?.[1];
  if (port !== undefined) return Number(port) <= 65535 ? `http://127.0.0.1:${port}` : undefined;
  const rest = /^(?:(https?)\/\/|\/\/)?(?=[^/])(.*)$/i.exec(text);
  if (rest === null) return undefined;
  const [, scheme = 'http', hostAndPath = ''] = rest;
  // A host (a name or an IPv4 address, or an IPv6 one in brackets), a port, then a path, a query or nothing.
  if (!/^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?(?:[/?#].*)?$/i.test(hostAndPath)) return undefined;
  const fixed = `${scheme.toLowerCase()}://${hostAndPath}`;
  return URL.canParse(fixed) ? fixed : undefined;
}

/** `value` is not an absolute http(s) URL: the message says so, with the URL it likely meant. */
function notAUrl(value: unknown, problem: string): Error {
  const meant = withScheme(value);
  return configError(
    'GATEWAY_ERRORS_INVALID_TARGET',
    meant === undefined
      ? `each target must be an absolute http(s) URL such as "http://127.0.0.1:4000", ${problem}.`
      : `each target must be an absolute http(s) URL: ${JSON.stringify(value)} has no scheme. Did you mean "${meant}"?`,
  );
}

/**
 * Reads `target` as one URL or a non-empty list of them, each absolute http(s), all of one protocol (the proxy
 * has one agent) and none twice.
 */
export function resolveTargets(target: unknown): readonly URL[] {
  const list = Array.isArray(target) ? target : [target];
  if (list.length === 0) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TARGET',
      'target is an empty list; give at least one URL, such as "http://127.0.0.1:4000".',
    );
  }
  const urls = list.map((value: unknown) => {
    let url: URL;
    try {
      url = value instanceof URL ? new URL(value.href) : new URL(String(value));
    } catch {
      throw notAUrl(value, `got ${JSON.stringify(value)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      // `localhost:4000` parses as the scheme `localhost:` with the path `4000`.
      if (!(value instanceof URL) && !String(value).includes('//') && withScheme(value) !== undefined) {
        throw notAUrl(value, '');
      }
      throw configError(
        'GATEWAY_ERRORS_INVALID_TARGET',
        `each target must use http: or https:, got ${url.protocol} in ${url.href}.`,
      );
    }
    return url;
  });
  const protocols = new Set(urls.map((url) => url.protocol));
  if (protocols.size > 1) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TARGET',
      'targets mix http: and https:; use one protocol for all targets of a proxy.',
    );
  }
  const seen = new Set<string>();
  for (const url of urls) {
    if (seen.has(url.href)) {
      throw configError('GATEWAY_ERRORS_INVALID_TARGET', `target ${url.href} is listed twice; list it once.`);
    }
    seen.add(url.href);
  }
  return Object.freeze(urls);
}

/** The targets of resolved URLs, in their order, frozen. */
export function targetsOf(urls: readonly URL[]): readonly Target[] {
  return Object.freeze(
    urls.map((url, index) => {
      // WHATWG URLs keep IPv6 literals in brackets.
      const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
      return Object.freeze({
        url,
        origin: url.origin,
        index,
        hostname,
        resolvesName: isIP(hostname) === 0,
        secure: url.protocol === 'https:',
      });
    }),
  );
}

/** Validates pool options once, fills the defaults and freezes the result. */
export function resolveTargetPoolOptions(options: TargetPoolOptions = {}, targetCount = 2): ResolvedTargetPoolOptions {
  checkOptions(options, ['passive', 'healthCheck'], 'gatewayProxy()');
  const given = options.passive ?? (targetCount > 1 ? {} : false);
  let passive: Readonly<Required<PassiveHealthOptions>> | false = false;
  if (given !== false) {
    checkOptions(given, ['failures', 'downFor', 'failureStatuses'], 'gatewayProxy() passive');
    passive = Object.freeze({
      failures: wholeNumber(given.failures ?? 3, 'passive.failures', 1, 10000),
      downFor: positiveNumber(given.downFor ?? 10000, 'passive.downFor', '10000 (milliseconds)'),
      failureStatuses: statusList(given.failureStatuses ?? [], 'passive.failureStatuses', 500, 599),
    });
  }
  return Object.freeze({
    passive,
    healthCheck: options.healthCheck === undefined ? undefined : resolveHealthCheck(options.healthCheck),
  });
}

interface PassiveState {
  consecutive: number;
  downUntil: number;
  down: boolean;
}

class RoundRobinPool extends EventEmitter<TargetPoolEvents> implements TargetPool {
  readonly targets: readonly Target[];
  readonly #options: ResolvedTargetPoolOptions;
  readonly #now: () => number;
  readonly #passive: PassiveState[];
  readonly #checker: HealthChecker | undefined;
  #cursor = 0;

  constructor(targets: readonly Target[], options: ResolvedTargetPoolOptions, runtime: TargetPoolRuntime) {
    super();
    this.targets = targets;
    this.#options = options;
    this.#now = resolveClock({ now: runtime.now }).now;
    this.#passive = targets.map(() => ({ consecutive: 0, downUntil: 0, down: false }));
    if (options.healthCheck !== undefined) {
      const urls = targets.map((target) => target.url);
      const checker = createHealthChecker(urls, options.healthCheck, { agent: runtime.agent, store: runtime.store });
      checker.on('change', (result) => {
        const target = this.targets.find((t) => t.url.href === result.target.href);
        if (target !== undefined && this.listenerCount('health') > 0) {
          this.emit('health', { target, healthy: result.healthy, source: 'active' });
        }
      });
      this.#checker = checker;
    }
  }

  candidates(tried?: ReadonlySet<Target>): Target[] {
    const count = this.targets.length;
    const start = this.#cursor;
    this.#cursor = (this.#cursor + 1) % count;
    const fresh: Target[] = [];
    // Targets already tried go last; most calls (a first attempt) have none, and make one array.
    let again: Target[] | undefined;
    for (let i = 0; i < count; i++) {
      const target = this.targets[(start + i) % count] as Target;
      if (!this.isHealthy(target)) continue;
      if (!tried?.has(target)) fresh.push(target);
      else if (again === undefined) again = [target];
      else again.push(target);
    }
    return again === undefined ? fresh : fresh.concat(again);
  }

  report(target: Target, outcome: AttemptOutcome): void {
    const passive = this.#options.passive;
    if (passive === false) return;
    const state = this.#passive[target.index];
    if (state === undefined || this.targets[target.index] !== target) return;
    const verdict = verdictOf(outcome, passive.failureStatuses);
    if (verdict === 'success') state.consecutive = 0;
    if (verdict !== 'failure') return;
    state.consecutive++;
    const now = this.#now();
    if (state.consecutive >= passive.failures && !(state.down && now < state.downUntil)) {
      state.down = true;
      state.downUntil = now + passive.downFor;
      this.#emitHealth(target, false);
    }
  }

  isHealthy(target: Target): boolean {
    const state = this.#passive[target.index];
    if (state?.down) {
      if (this.#now() < state.downUntil) return false;
      state.down = false;
      this.#emitHealth(target, true);
    }
    return this.#checker?.isHealthy(target.url) ?? true;
  }

  unavailable(): GatewayFailure {
    const now = this.#now();
    let soonest = Number.POSITIVE_INFINITY;
    for (const target of this.targets) {
      const state = this.#passive[target.index] as PassiveState;
      const passiveWait = state.down ? Math.max(0, state.downUntil - now) : 0;
      const activeWait =
        this.#checker !== undefined && !this.#checker.isHealthy(target.url) ? this.#checker.nextCheckIn() : 0;
      soonest = Math.min(soonest, Math.max(passiveWait, activeWait));
    }
    const seconds = Number.isFinite(soonest) ? Math.max(1, Math.ceil(soonest / 1000)) : undefined;
    return failureOf('destination_unavailable', { retryAfter: seconds });
  }

  close(): void {
    this.#checker?.close();
  }

  #emitHealth(target: Target, healthy: boolean): void {
    if (this.listenerCount('health') > 0) this.emit('health', { target, healthy, source: 'passive' });
  }
}

/**
 * Creates a pool over one target or several: round-robin over the healthy ones, failover on retries, passive
 * health, and active health checks when `healthCheck` is given (their timers are unref'd; `close()` stops them).
 * `runtime` passes the proxy's agent (TLS settings) to the checks, and a clock for tests.
 * @example
 * const pool = createTargetPool(['http://10.0.0.1:4000', 'http://10.0.0.2:4000'], { healthCheck: { path: '/health' } });
 * const [target] = pool.candidates(tried);
 * if (target === undefined) return errorOf(pool.unavailable()); // 503, Retry-After until the next check
 */
export function createTargetPool(
  target: string | URL | readonly (string | URL)[],
  options?: TargetPoolOptions,
  runtime: TargetPoolRuntime = {},
): TargetPool {
  const targets = targetsOf(resolveTargets(target));
  return targetPoolOf(targets, resolveTargetPoolOptions(options, targets.length), runtime);
}

/** A pool over targets and options already resolved (a proxy's: `resolveProxyOptions` checked them once). */
export function targetPoolOf(
  targets: readonly Target[],
  options: ResolvedTargetPoolOptions,
  runtime: TargetPoolRuntime = {},
): TargetPool {
  return new RoundRobinPool(targets, options, runtime);
}
