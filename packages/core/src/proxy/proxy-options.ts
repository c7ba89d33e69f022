import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { booleanOption, checkOptions } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { type BackoffOptions, type ResolvedBackoff, resolveBackoff } from '../resilience/backoff.js';
import { type BreakerOptions, type ResolvedBreakerOptions, resolveBreakerOptions } from '../resilience/breaker.js';
import { type Clock, type ResolvedClock, resolveClock } from '../resilience/clock.js';
import type { HealthCheckOptions } from '../resilience/health.js';
import { type ConcurrencyOptions, type ResolvedConcurrencyOptions, resolveConcurrency } from '../resilience/limiter.js';
import {
  type ResolvedRetryBudgetOptions,
  type RetryBudgetOptions,
  resolveRetryBudget,
} from '../resilience/retry-budget.js';
import { type ResolvedRobotsOptions, type RobotsOptions, resolveRobotsOptions } from '../resilience/robots.js';
import {
  type ResolvedStaleIfErrorOptions,
  resolveStaleIfError,
  type StaleIfErrorOptions,
} from '../resilience/stale.js';
import {
  type PassiveHealthOptions,
  type ResolvedTargetPoolOptions,
  resolveTargetPoolOptions,
  resolveTargets,
  type Target,
  targetsOf,
} from '../resilience/targets.js';
import type { GatewayStore } from '../store/store.js';

/** Timeouts of one proxied request, in milliseconds. Each ends in its own failure type. */
export interface TimeoutOptions {
  /**
   * DNS lookup, TCP connect and TLS handshake of a new connection (a reused keep-alive connection skips it). Ends in
   * 504 `connection_timeout`, or `dns_timeout` while the name is still being resolved.
   * @default 5000
   */
  connect?: number;
  /**
   * From the moment the request is sent until the response head arrives. Ends in 504 `http_response_timeout`. While
   * a request body is still being uploaded, an upstream that stops reading it for this long ends in 504
   * `connection_write_timeout`; a slow client does not count against the upstream.
   * @default 30000
   */
  response?: number;
  /**
   * The longest silence of the side the exchange waits on, once the request is under way: between two body bytes of
   * the response (the upstream: an aborted client connection, since the head already went out, reported as
   * `connection_read_timeout`), and on the client's side (nginx's `client_body_timeout` and `send_timeout`): a request
   * body that stops arriving, or an answer the client stops taking, ends the exchange as a client stall (408 and a
   * close when nothing was sent yet, else a cut connection; an `abort` event with `stalled`), never counted against
   * the upstream. Time the upstream is held back by a slow client does not count against it.
   * @default 30000
   */
  idle?: number;
  /**
   * An overall bound from the start of the request until the response head, retries included: when it passes, the
   * attempt under way fails with the timeout of its step (504) and no retry follows. It does not cut a response that
   * is already streaming; `idle` guards that.
   * @default undefined (no overall bound)
   */
  deadline?: number;
}

/** TLS towards an https upstream. Certificates are verified unless you say otherwise. */
export interface UpstreamTlsOptions {
  /**
   * Trusted CA certificates (PEM), for an upstream behind a private CA. Replaces Node's bundled CAs for this proxy.
   * @default undefined (Node's bundled CAs)
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /**
   * Verify the upstream's certificate. Turn off only for a test upstream you control.
   * @default true
   */
  rejectUnauthorized?: boolean;
  /**
   * The server name (SNI) and the name the certificate is checked against.
   * @default the target's host name
   */
  servername?: string;
}

/** Retry policy. */
export interface RetryOptions {
  /**
   * Attempts after the first. Only failures that are safe to repeat are retried (`isRetrySafe`): the body can be sent
   * again (none, or buffered), and the request never reached the upstream (refused, connect timeout, TLS failure) or
   * its method is idempotent. A request that meets a reused connection the upstream just closed is sent again on a new
   * one by the same rule, outside this count.
   * @default 1
   */
  retries?: number;
  /**
   * Largest request body buffered so that it can be replayed (and, with a `concurrency` limit, read before a slot is
   * taken, so a client that stalls it never holds one); larger bodies, and bodies of unknown length, are streamed and
   * never retried.
   * @default 65536
   */
  maxBufferedBody?: number;
  /**
   * The wait before each retry (capped exponential backoff with full jitter), and the longest upstream Retry-After
   * waited out; see {@link BackoffOptions}.
   * @default { base: 100, cap: 2000, maxRetryAfter: 5000 }
   */
  backoff?: BackoffOptions;
  /**
   * Retries may add at most a share of the requests of a sliding window (see {@link RetryBudgetOptions}), so a dead
   * upstream does not get its load multiplied; `false` for no budget.
   * @default { ratio: 0.2, minPerSecond: 10, window: 10000 }
   */
  budget?: false | RetryBudgetOptions;
}

/** Options of the proxy (`gatewayProxy()` in every adapter). Only `target` is required. */
export interface ProxyOptions {
  /**
   * The upstream, such as `http://127.0.0.1:4000` or `https://api.internal/v1`; its path is prefixed to every
   * request's. A list spreads requests round-robin over the healthy ones and fails over between them (one protocol
   * for all, each URL once).
   */
  target: string | URL | readonly (string | URL)[];
  /**
   * Timeouts in milliseconds; see {@link TimeoutOptions}.
   * @default { connect: 5000, response: 30000, idle: 30000 }
   */
  timeouts?: TimeoutOptions;
  /**
   * Send the target's host as Host (for upstreams that route by name) instead of the client's.
   * @default false
   */
  changeOrigin?: boolean;
  /**
   * This gateway is behind a proxy you run, which sets or cleans the client-address fields: keep them (Forwarded,
   * X-Forwarded-*, X-Real-IP, True-Client-IP, CF-Connecting-IP, ...), append this hop to X-Forwarded-For, and append
   * this hop's element to a Forwarded the edge sent (RFC 7239 §4). When off, every such field a client sent is
   * dropped and X-Forwarded-For/-Proto/-Host are set by the proxy, so a client cannot pose as another address.
   * @default false
   */
  trustForwarded?: boolean;
  /**
   * Render our own page instead of passing an upstream's 5xx through: `true` for every 5xx, or a list of statuses.
   * The upstream's Retry-After is kept (validated), and Proxy-Status says `received-status`. An intercepted answer is
   * never retried: the upstream did answer.
   * @default false (the upstream's 5xx, its body and its validated Retry-After pass through)
   */
  intercept?: boolean | readonly number[];
  /**
   * TLS towards an https target. Applies to the agent this proxy creates; with your own `agent`, configure TLS on it.
   * @default { rejectUnauthorized: true }
   */
  tls?: UpstreamTlsOptions;
  /**
   * Your own agent (then `close()` leaves it alone). By default each proxy has a keep-alive agent of its own.
   * @default a keep-alive http(s).Agent
   */
  agent?: HttpAgent;
  /**
   * Retries of failed attempts that are safe to repeat: `{ retries }`, or `false` for none.
   * @default { retries: 1, maxBufferedBody: 65536, backoff: { base: 100, cap: 2000, maxRetryAfter: 5000 }, budget: { ratio: 0.2, minPerSecond: 10, window: 10000 } }
   */
  retry?: false | RetryOptions;
  /**
   * A circuit breaker per target (see {@link BreakerOptions}), or `false` for none. While a circuit is open, requests
   * to it fail fast with 503 `destination_unavailable` and Retry-After = the remaining open time.
   * @default { consecutiveFailures: 5, failureRatio: 0.5, window: 10000, minimumRequests: 20, openFor: 5000, maxOpenFor: 60000, jitter: 0.2, probes: 1, failureStatuses: [] }
   */
  breaker?: false | BreakerOptions;
  /**
   * Passive health: a target that fails `failures` attempts in a row is out of rotation for `downFor` ms; `false`
   * for none.
   * @default { failures: 3, downFor: 10000, failureStatuses: [] } with several targets; false with one (its breaker guards it)
   */
  passive?: false | PassiveHealthOptions;
  /**
   * Active health checks, such as `{ path: '/health', interval: 5000, timeout: 2000 }`.
   * @default undefined (no active checks)
   */
  healthCheck?: HealthCheckOptions;
  /**
   * A limit on requests in flight through this proxy (all its targets together), with a small queue; past it, 503
   * `connection_limit_reached` with Retry-After. WebSocket upgrades are not counted (they last).
   * @default undefined (no limit); when given, { max: 100, queue: 10, queueTimeout: 1000, retryAfter: 1 }
   */
  concurrency?: ConcurrencyOptions;
  /**
   * robots.txt never answers 5xx: when the upstream fails for GET or HEAD `/robots.txt` (at the site root), the last
   * good copy seen, or `fallback`, is served with 200. `false` turns this off.
   * @default { fallback: 'User-agent: *\nAllow: /\n', cacheControl: 'max-age=300', maxBodyBytes: 512000, maxTotalBytes: 4194304 }
   */
  robots?: false | RobotsOptions;
  /**
   * stale-if-error (RFC 5861): a GET or HEAD that would get a 502, 503 or 504 (any failure: refused, reset, timeout,
   * TLS, a malformed answer, an open circuit, no healthy target, the concurrency limit; with `intercept`, the
   * upstream's own 500, 502, 503 or 504) is answered with the last good copy of its answer instead, with `Age` and
   * `Cache-Status: gateway-errors; hit; ttl=-N`, while the copy's age is within its window. Only what a shared cache
   * may keep is kept (RFC 9111: never `no-store`, `private`, `no-cache`, a `Set-Cookie`, an authorized or cookied
   * request unless the response says so, `Vary: *`); never for another method, never for a request `maintenance()`
   * let through. `true` for the defaults, or {@link StaleIfErrorOptions}.
   * @default false
   */
  staleIfError?: boolean | StaleIfErrorOptions;
  /**
   * Where this proxy shares state with the other instances of the gateway (`redisStore()` from
   * `@gateway-errors/redis`; docs/fleet.md), never in a request's way:
   * - copies of good answers (robots.txt's last good copies, and stale-if-error's): a copy one instance saw answers a
   *   failure on any other. Copies are kept in this process's memory too, and read there first: a request never waits
   *   for the store when all is well (copies are written to it without waiting, and a hot URL's not with every
   *   request), and a failed request waits at most 5 ms a read for its copy, then is answered as usual. A copy read
   *   from it is validated, and never served when it is cut short, garbled or another version's;
   * - the results of active health checks: one instance checks each target per interval, every instance applies the
   *   result;
   * - open circuits, when `breaker.shared` is on.
   * @default undefined (copies in this process's memory only; each instance checks and breaks for itself)
   */
  store?: GatewayStore;
  /**
   * Reuse a plain incoming X-Request-Id (at most 128 of `[A-Za-z0-9._:+=/-]`) instead of generating one: turn it on
   * when an edge you run sets the id. Off by default: the id is sent upstream and logged by other systems, and a
   * client choosing it could make its requests share an id with someone else's. The proxy fixes the id of every
   * request it sees (the error page and events show the same).
   * @default false
   */
  trustRequestId?: boolean;
  /**
   * Where the resilience reads time and chance: the breakers (open time, failure-rate window, jitter), the passive
   * down time, the retry budget's window and the backoff's jitter. For tests: a circuit can be opened, aged and
   * half-opened by moving `now`, with no real wait. The timeouts and the health checks' interval stay real timers.
   * @default { now: performance.now, random: Math.random }
   */
  clock?: Clock;
}

/** Timeouts with their defaults filled in; `deadline` is `Infinity` when unset. */
export interface ResolvedTimeouts {
  readonly connect: number;
  readonly response: number;
  readonly idle: number;
  readonly deadline: number;
}

/** The options of one proxy, validated, filled and frozen. */
export interface ResolvedProxyOptions {
  /** The targets, in configured order. */
  readonly targets: readonly Target[];
  /** The one agent every target's connections share (a proxy speaks one protocol). */
  readonly agent: HttpAgent;
  /** Whether this proxy created the agent. */
  readonly ownsAgent: boolean;
  readonly timeouts: ResolvedTimeouts;
  readonly changeOrigin: boolean;
  readonly trustForwarded: boolean;
  readonly trustRequestId: boolean;
  readonly intercept: (status: number) => boolean;
  readonly retries: number;
  readonly maxBufferedBody: number;
  readonly backoff: ResolvedBackoff;
  readonly budget: ResolvedRetryBudgetOptions | false;
  readonly breaker: ResolvedBreakerOptions | false;
  readonly pool: ResolvedTargetPoolOptions;
  readonly concurrency: ResolvedConcurrencyOptions | undefined;
  readonly robots: ResolvedRobotsOptions | false;
  readonly staleIfError: ResolvedStaleIfErrorOptions | false;
  readonly store: GatewayStore | undefined;
  readonly clock: ResolvedClock;
}

const optionNames = [
  'target',
  'timeouts',
  'changeOrigin',
  'trustForwarded',
  'trustRequestId',
  'intercept',
  'tls',
  'agent',
  'retry',
  'breaker',
  'passive',
  'healthCheck',
  'concurrency',
  'robots',
  'staleIfError',
  'store',
  'clock',
];

function positiveMs(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 2 ** 31 - 1) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${name} must be a positive number of milliseconds (at most 2147483647), got ${String(value)}.`,
    );
  }
  return value;
}

/**
 * How long the agent we create keeps an idle upstream connection, in milliseconds: 4 s (undici's default), or a second
 * less than the upstream's `Keep-Alive: timeout=` when that is shorter. Node's agent applies that hint only to shorten
 * a timeout of its own: with none, it kept idle connections until the upstream closed them, and a request sent on one
 * as it closed was reset (a POST, never retried, answered 502). The timer only ends idle connections; one in use
 * is the attempt's to time.
 */
const idleConnectionTimeout = 4000;

function resolveAgent(options: ProxyOptions, secure: boolean): HttpAgent {
  const tls = options.tls ?? {};
  checkOptions(tls, ['ca', 'rejectUnauthorized', 'servername'], 'gatewayProxy() tls');
  if (options.agent !== undefined && options.tls !== undefined) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      'give either agent or tls, not both: set TLS options (ca, rejectUnauthorized, servername) on your own agent.',
    );
  }
  if (options.agent !== undefined && !(options.agent instanceof HttpAgent)) {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'agent must be an http.Agent or https.Agent.');
  }
  return (
    options.agent ??
    (secure
      ? new HttpsAgent({
          keepAlive: true,
          scheduling: 'lifo',
          timeout: idleConnectionTimeout,
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ca: tls.ca,
          // Only when set: an agent's options override a request's, and the engine names each target itself.
          ...(tls.servername === undefined ? {} : { servername: tls.servername }),
        })
      : new HttpAgent({ keepAlive: true, scheduling: 'lifo', timeout: idleConnectionTimeout }))
  );
}

/** A store as the contract has it: checked by shape, since a store may come from another copy of the package. */
function resolveStore(store: unknown): GatewayStore | undefined {
  if (store === undefined) return undefined;
  const shaped = store as Partial<Record<keyof GatewayStore, unknown>> | null;
  const methods = ['get', 'set', 'lock', 'publish', 'subscribe', 'close', 'on'] as const;
  if (typeof shaped !== 'object' || shaped === null || !methods.every((name) => typeof shaped[name] === 'function')) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'store must be a GatewayStore, such as memoryStore() from @gateway-errors/core or redisStore() from @gateway-errors/redis.',
    );
  }
  return store as GatewayStore;
}

function resolveProxyClock(clock: unknown): ResolvedClock {
  if (clock === undefined) return resolveClock();
  checkOptions(clock, ['now', 'random'], 'gatewayProxy() clock');
  const { now, random } = clock as Clock;
  if ((now !== undefined && typeof now !== 'function') || (random !== undefined && typeof random !== 'function')) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'clock.now and clock.random must be functions, such as { now: () => performance.now() }.',
    );
  }
  return resolveClock({ now, random });
}

function optionalObject<T>(value: T | false | undefined, name: string, example: string): T | false | undefined {
  if (
    value === undefined ||
    value === false ||
    (typeof value === 'object' && value !== null && !Array.isArray(value))
  ) {
    return value;
  }
  throw configError('GATEWAY_ERRORS_INVALID_OPTION', `${name} must be an options object such as ${example}, or false.`);
}

/** Whether the proxy answers an upstream's own status itself: every 5xx, none, or those listed. */
function interceptOf(intercept: boolean | readonly number[]): (status: number) => boolean {
  if (intercept === true) return (status) => status >= 500 && status <= 599;
  if (intercept === false) return () => false;
  const intercepted = new Set(intercept);
  return (status) => intercepted.has(status);
}

/**
 * Validates the options once, fills the defaults, and freezes the result. Every message names the fix. Every option
 * is checked before anything is created, so a mistake leaves no agent or health check behind.
 */
export function resolveProxyOptions(options: ProxyOptions): ResolvedProxyOptions {
  checkOptions(options, optionNames, 'gatewayProxy()');
  if (options?.target === undefined) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_TARGET',
      'gatewayProxy() needs a target, such as { target: "http://127.0.0.1:4000" }.',
    );
  }
  const urls = resolveTargets(options.target);
  const timeouts = options.timeouts ?? {};
  checkOptions(timeouts, ['connect', 'response', 'idle', 'deadline'], 'gatewayProxy() timeouts');
  const retry: RetryOptions = options.retry === false ? { retries: 0, budget: false } : (options.retry ?? {});
  checkOptions(retry, ['retries', 'maxBufferedBody', 'backoff', 'budget'], 'gatewayProxy() retry');
  const retries = retry.retries ?? 1;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `retry.retries must be a whole number from 0 to 10, got ${retries}.`,
    );
  }
  const maxBufferedBody = retry.maxBufferedBody ?? 65536;
  if (!Number.isInteger(maxBufferedBody) || maxBufferedBody < 0) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `retry.maxBufferedBody must be a whole number of bytes, got ${maxBufferedBody}.`,
    );
  }
  const budget = optionalObject(retry.budget, 'retry.budget', '{ ratio: 0.2 }');
  const breaker = optionalObject(options.breaker, 'breaker', '{ consecutiveFailures: 5, openFor: 5000 }');
  const passive = optionalObject(options.passive, 'passive', '{ failures: 3, downFor: 10000 }');
  const robots = optionalObject(options.robots, 'robots', '{ fallback: "User-agent: *\\nAllow: /\\n" }');
  const store = resolveStore(options.store);
  if (breaker !== false && breaker?.shared === true && store === undefined) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      "breaker.shared shares open circuits through the proxy's store, and there is none: give store (such as redisStore({ url })), or drop shared.",
    );
  }
  const intercept = options.intercept ?? false;
  if (
    typeof intercept !== 'boolean' &&
    !(Array.isArray(intercept) && intercept.every((s) => Number.isInteger(s) && s >= 500 && s <= 599))
  ) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'intercept must be true, false, or a list of 5xx statuses such as [502, 503].',
    );
  }
  const resolved = {
    timeouts: Object.freeze({
      connect: positiveMs(timeouts.connect ?? 5000, 'timeouts.connect'),
      response: positiveMs(timeouts.response ?? 30000, 'timeouts.response'),
      idle: positiveMs(timeouts.idle ?? 30000, 'timeouts.idle'),
      deadline:
        timeouts.deadline === undefined ? Number.POSITIVE_INFINITY : positiveMs(timeouts.deadline, 'timeouts.deadline'),
    }),
    changeOrigin: booleanOption(options.changeOrigin, 'changeOrigin', false),
    trustForwarded: booleanOption(options.trustForwarded, 'trustForwarded', false),
    trustRequestId: booleanOption(options.trustRequestId, 'trustRequestId', false),
    intercept: interceptOf(intercept),
    retries,
    maxBufferedBody,
    backoff: resolveBackoff(retry.backoff),
    budget: budget === false ? (false as const) : resolveRetryBudget(budget),
    breaker: breaker === false ? (false as const) : resolveBreakerOptions(breaker),
    pool: resolveTargetPoolOptions({ passive, healthCheck: options.healthCheck }, urls.length),
    concurrency: options.concurrency === undefined ? undefined : resolveConcurrency(options.concurrency),
    robots: robots === false ? (false as const) : resolveRobotsOptions(robots),
    staleIfError: resolveStaleIfError(options.staleIfError),
    store,
    clock: resolveProxyClock(options.clock),
  };
  // Created last: everything above has been checked.
  const agent = resolveAgent(options, urls[0]?.protocol === 'https:');
  const ownsAgent = options.agent === undefined;
  return Object.freeze({
    ...resolved,
    targets: targetsOf(urls),
    agent,
    ownsAgent,
  });
}
