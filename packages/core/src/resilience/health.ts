import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type ClientRequest, type Agent as HttpAgent, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { hostname } from 'node:os';
import { checkOptions, positiveNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import type { GatewayStore } from '../store/store.js';

/** Active health checks: each target is really requested over HTTP, every `interval`. Durations in milliseconds. */
export interface HealthCheckOptions {
  /**
   * The path requested on each target, joined to the target's own path as every proxied request is. The target
   * is healthy when it answers 2xx or 3xx within `timeout` (HAProxy's `httpchk` rule); so point it at a route that
   * answers 200, such as `/health`.
   * @default '/'
   */
  path?: string;
  /**
   * The time from the end of one round of checks to the start of the next.
   * @default 5000
   */
  interval?: number;
  /**
   * How long one check may take, response head included, before it counts as failed.
   * @default 2000
   */
  timeout?: number;
}

/** Validated health check settings. */
export type ResolvedHealthCheckOptions = Readonly<Required<HealthCheckOptions>>;

/** The documented defaults. */
const defaultHealthCheck: ResolvedHealthCheckOptions = Object.freeze({
  path: '/',
  interval: 5000,
  timeout: 2000,
});

// A path, never `//host`: joined to a target it must not name another host.
const requestPath = /^\/(?!\/)[\x21-\x7e]*$/;

/** Validates health check options once, fills the defaults and freezes the result. */
export function resolveHealthCheck(options: HealthCheckOptions = {}): ResolvedHealthCheckOptions {
  checkOptions(options, Object.keys(defaultHealthCheck), 'gatewayProxy() healthCheck');
  const path = options.path ?? defaultHealthCheck.path;
  if (typeof path !== 'string' || !requestPath.test(path)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `healthCheck.path must start with a single "/" and hold no spaces or control characters, such as "/health"; got ${JSON.stringify(path)}.`,
    );
  }
  const interval = positiveNumber(options.interval ?? defaultHealthCheck.interval, 'healthCheck.interval', '5000');
  const timeout = positiveNumber(options.timeout ?? defaultHealthCheck.timeout, 'healthCheck.timeout', '2000');
  if (timeout > interval) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `healthCheck.timeout (${timeout}) is longer than healthCheck.interval (${interval}); shorten timeout.`,
      { kind: RangeError },
    );
  }
  return Object.freeze({ path, interval, timeout });
}

/** The result of one check. */
export interface HealthCheckResult {
  /** The target checked. */
  target: URL;
  healthy: boolean;
  /** The status it answered with, when it answered. */
  status?: number;
  /** Why it failed without an answer (`ECONNREFUSED`, `ETIMEDOUT`, ...). */
  code?: string;
}

/** Events of a health checker. */
export interface HealthCheckerEvents {
  /** A target's health changed (the first result of a target counts as a change only when it is unhealthy). */
  change: [HealthCheckResult];
}

/** Checks a fixed set of targets in the background until closed. */
export interface HealthChecker extends EventEmitter<HealthCheckerEvents> {
  /** Whether `target` passed its last check. A target is presumed healthy until its first check says otherwise. */
  isHealthy(target: URL): boolean;
  /** Milliseconds until the next results are known: the next round's start plus its timeout. */
  nextCheckIn(): number;
  /** Runs a round now (unless one is running) and resolves when every target has its result. */
  check(): Promise<void>;
  /** Stops the checks: no timer or socket is left behind. Safe to call twice. */
  close(): void;
}

/**
 * How checks connect (the proxy's agent carries its TLS settings, a private CA, and keep-alive), and where their results
 * are shared.
 */
export interface HealthCheckConnection {
  /**
   * The agent for the checks.
   * @default a fresh connection per check
   */
  agent?: HttpAgent;
  /**
   * Where instances share the checks: each round, the instance that holds a target's lock in the store checks it and
   * publishes the result, and the others apply it without checking. While the store is down, each checks for itself.
   * @default undefined (this instance checks every target)
   */
  store?: GatewayStore;
}

/** A result as the store keeps and publishes it. */
interface SharedResult {
  readonly healthy: boolean;
  readonly status?: number;
  readonly code?: string;
}

function parseResult(text: string): SharedResult | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = value as Partial<SharedResult> | null;
  if (typeof result?.healthy !== 'boolean') return undefined;
  const status = Number.isInteger(result.status) ? result.status : undefined;
  const code = typeof result.code === 'string' && /^[\w.-]{1,64}$/.test(result.code) ? result.code : undefined;
  return { healthy: result.healthy, status, code };
}

/**
 * The name of a target's check in the store: what is checked (origin, path, and the check's path), never the URL's
 * credentials. Proxies of the same target with the same check share it.
 */
function checkKey(target: URL, path: string): string {
  return `${target.origin}${target.pathname}|${path}`;
}

class ActiveHealthChecker extends EventEmitter<HealthCheckerEvents> implements HealthChecker {
  readonly #targets: readonly URL[];
  readonly #options: ResolvedHealthCheckOptions;
  readonly #agent: HttpAgent | undefined;
  readonly #store: GatewayStore | undefined;
  /** This checker, as a lock names its holder. */
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  readonly #healthy = new Map<string, boolean>();
  readonly #inFlight = new Set<ClientRequest>();
  readonly #unsubscribe: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #nextRoundAt = 0;
  /** The store is down: every target is checked here, as without a store. */
  #storeDown = false;
  #closed = false;

  constructor(targets: readonly URL[], options: ResolvedHealthCheckOptions, connection: HealthCheckConnection) {
    super();
    this.#targets = targets;
    this.#options = options;
    this.#agent = connection.agent;
    const store = connection.store;
    this.#store = store;
    if (store !== undefined) {
      for (const target of targets) {
        const key = `health:${checkKey(target, options.path)}`;
        this.#unsubscribe.push(store.subscribe(key, (message) => this.#heard(target, message)));
      }
      const onDown = () => {
        this.#storeDown = true;
      };
      // A round made while the store was still connecting checked nothing: run one now that it answers.
      const onUp = () => {
        this.#storeDown = false;
        void this.check();
      };
      store.on('down', onDown);
      store.on('up', onUp);
      this.#unsubscribe.push(() => {
        store.off('down', onDown);
        store.off('up', onUp);
      });
    }
    void this.check();
  }

  isHealthy(target: URL): boolean {
    return this.#healthy.get(target.href) ?? true;
  }

  nextCheckIn(): number {
    const start = this.#round === undefined ? this.#nextRoundAt : performance.now();
    return Math.max(0, start - performance.now()) + this.#options.timeout;
  }

  check(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#round !== undefined) return this.#round;
    clearTimeout(this.#timer);
    this.#round = Promise.all(this.#targets.map((target) => this.#checkOne(target))).then(() => {
      this.#round = undefined;
      this.#schedule();
    });
    return this.#round;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    for (const request of this.#inFlight) request.destroy();
    this.#inFlight.clear();
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#nextRoundAt = performance.now() + this.#options.interval;
    // unref: health checks alone must never keep the process alive.
    this.#timer = setTimeout(() => void this.check(), this.#options.interval).unref();
  }

  /**
   * One target's turn in a round. With a store, one instance checks it per interval: the one that holds its lock
   * (held past the next round, so the holder keeps it; it lapses if the holder dies), which publishes the result;
   * the others read the last result instead (and hear the next one as it is published). While the store is down,
   * every instance checks for itself: a result nobody checks would otherwise hold a target down for good.
   */
  async #checkOne(target: URL): Promise<void> {
    const store = this.#store;
    if (store === undefined || this.#storeDown) {
      this.#apply(target, await this.#probe(target));
      return;
    }
    const { interval, timeout, path } = this.#options;
    const key = `health:${checkKey(target, path)}`;
    let holder: boolean;
    try {
      holder = await store.lock(`lock:${key}`, this.#owner, interval + 2 * timeout);
    } catch {
      // A store of a user's own that rejects, which the contract rules out: check here, as when it is down.
      holder = true;
    }
    if (holder) {
      const result = await this.#probe(target);
      if (this.#closed) return;
      this.#apply(target, result);
      const text = JSON.stringify({ healthy: result.healthy, status: result.status, code: result.code });
      // Kept for instances that start later (a few intervals: a result nobody refreshes lapses), then announced.
      try {
        await store.set(key, Buffer.from(text), 3 * interval + timeout);
        await store.publish(key, text);
      } catch {}
      return;
    }
    let stored: Buffer | undefined;
    try {
      stored = await store.get(key);
    } catch {}
    if (stored !== undefined) this.#heard(target, stored.toString('utf8'));
  }

  #heard(target: URL, message: string): void {
    const result = parseResult(message);
    if (result !== undefined && !this.#closed) this.#apply(target, { target, ...result });
  }

  #apply(target: URL, result: HealthCheckResult): void {
    if (this.#closed) return;
    const before = this.#healthy.get(target.href);
    this.#healthy.set(target.href, result.healthy);
    if ((before ?? true) !== result.healthy && this.listenerCount('change') > 0) this.emit('change', result);
  }

  #probe(target: URL): Promise<HealthCheckResult> {
    return new Promise((resolve) => {
      const url = new URL(target.pathname.replace(/\/+$/, '') + this.#options.path, target.origin);
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      let settled = false;
      const finish = (result: HealthCheckResult, complete = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#inFlight.delete(request);
        // A complete exchange leaves its socket to the agent (kept alive); anything else is torn down.
        if (!complete) request.destroy();
        resolve(result);
      };
      const request = send(url, {
        method: 'GET',
        agent: this.#agent ?? false,
        headers: { 'user-agent': 'gateway-errors health check', accept: '*/*' },
      });
      this.#inFlight.add(request);
      const timer = setTimeout(
        () => finish({ target, healthy: false, code: 'ETIMEDOUT' }),
        this.#options.timeout,
      ).unref();
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        // Read the body to its end so that a keep-alive socket goes back to the pool clean.
        response.resume();
        response.on('end', () => finish({ target, healthy: status >= 200 && status < 400, status }, true));
        response.on('error', () => finish({ target, healthy: false, status, code: 'ECONNRESET' }));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        finish({ target, healthy: false, code: error.code ?? 'ERR_HEALTH_CHECK' });
      });
      request.end();
    });
  }
}

/**
 * Starts active health checks of `targets`: a first round at once, then one every `interval` after the previous
 * round ended (so rounds never overlap). With `connection.store`, one instance checks each target per interval and
 * the others apply its results. Timers are unref'd; `close()` stops everything.
 * @example
 * const checker = createHealthChecker([new URL('http://10.0.0.1:4000')], { path: '/health', interval: 5000 });
 * checker.isHealthy(target); // false once a check failed, true again once one passes
 */
export function createHealthChecker(
  targets: readonly URL[],
  options?: HealthCheckOptions,
  connection: HealthCheckConnection = {},
): HealthChecker {
  return new ActiveHealthChecker(targets, resolveHealthCheck(options), connection);
}
