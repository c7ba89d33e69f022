import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { booleanOption, checkOptions } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { failureOf, type GatewayFailure } from '../failure/failure.js';
import { originalUrlOf } from '../node-http/original-url.js';
import type { GatewayStore } from '../store/store.js';

/** Who still reaches the site during maintenance. */
export interface MaintenanceAllowList {
  /**
   * Paths answered as usual. A string matches that path and everything below it (`'/status'` matches `/status`
   * and `/status/db`, not `/statuses`); a RegExp is tested against the path without its query.
   * @default []
   */
  paths?: readonly (string | RegExp)[];
  /**
   * Client addresses let through: an exact match on the socket's address (`::ffff:10.0.0.1` is matched as
   * `10.0.0.1`). X-Forwarded-For is not read: behind a load balancer every request comes from its address, and
   * listing that address would let everyone in.
   * @default []
   */
  ips?: readonly string[];
  /**
   * A header and its secret value; requests that carry it pass (operators checking the site before reopening it).
   * The value is compared in constant time.
   * @default undefined
   */
  header?: { name: string; value: string };
  /**
   * Let GET and HEAD of /robots.txt through, to the proxy (whose robots.txt keeper answers 200 when the upstream is
   * down) or your own route. A 503 robots.txt makes Google treat the whole site as disallowed, which is harmless for
   * an hour and harmful over days; the pages' own 503 already slows crawlers down. Turn off to send 503 everywhere.
   * @default true
   */
  robotsTxt?: boolean;
}

/** Options of maintenance mode. */
export interface MaintenanceOptions {
  /**
   * On or off. A function is asked on every request, so maintenance can be switched at run time without a
   * restart (a flag in memory, a file, an environment variable); `gate.enabled = ...` switches it too. With a
   * `store`, the state in the store wins once it is read, and a function cannot be shared: give true or false, and
   * switch every instance with `gate.enabled = ...` on any one of them.
   * @default true; false with a store (mounting the gate on a fleet does not close it)
   */
  enabled?: boolean | (() => boolean);
  /**
   * When the window is expected to end: a Date, a date string (ISO 8601 or an HTTP-date), or milliseconds since
   * the epoch. Sent as Retry-After, in seconds from now. Maintenance does not end by itself when the time comes;
   * a window that runs over sends the usual short hint.
   * @default undefined (Retry-After is the short hint)
   */
  until?: Date | string | number;
  /**
   * Who still gets through.
   * @default {}
   */
  allow?: MaintenanceAllowList;
  /**
   * Where the switch is shared with every other instance (`redisStore()` from `@gateway-errors/redis`): setting
   * `gate.enabled` or `gate.until` on one instance reaches all of them (published, and kept for instances that start
   * later), the last setting wins, and each request reads this instance's copy, never the store. While the store is
   * unreachable, each instance keeps its state, and one set meanwhile is sent when the store returns.
   * @default undefined (this gate alone)
   */
  store?: GatewayStore;
  /**
   * The name of the shared switch, so that gates of different sites or areas sharing a store can differ.
   * @default 'default'
   */
  name?: string;
}

/** A change of a gate's state, for logs. */
export interface MaintenanceChange {
  enabled: boolean;
  until: Date | undefined;
  /** Where the change came from: this instance (`gate.enabled = ...`), or another one through the store. */
  source: 'local' | 'store';
  /** The instance that set it (host name and pid), when it came through the store. */
  by?: string;
}

/** Events of a gate. */
export interface MaintenanceGateEvents {
  /** Maintenance was switched, or its end moved. */
  change: [MaintenanceChange];
}

/** Maintenance mode, decided per request. */
export interface MaintenanceGate extends EventEmitter<MaintenanceGateEvents> {
  /**
   * The failure to answer `req` with (503 proxy_internal_response, Retry-After until `until`), or `undefined` when
   * maintenance is off or `req` is allowed through.
   */
  check(req: IncomingMessage): GatewayFailure | undefined;
  /**
   * Whether maintenance is on now. Setting it (a flag or a function) replaces the `enabled` option; with a store, it
   * takes a flag, which every instance applies.
   */
  get enabled(): boolean;
  set enabled(value: boolean | (() => boolean));
  /**
   * The expected end. Setting it (a Date, a date string, epoch milliseconds, or undefined) is validated; with a
   * store, every instance applies it.
   */
  get until(): Date | undefined;
  set until(value: Date | string | number | undefined);
}

interface ResolvedAllowList {
  readonly prefixes: readonly string[];
  readonly patterns: readonly RegExp[];
  readonly ips: ReadonlySet<string>;
  readonly header: { readonly name: string; readonly digest: Buffer } | undefined;
  readonly robotsTxt: boolean;
}

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The address as we compare it: IPv4-mapped IPv6 as plain IPv4, IPv6 in its canonical form (the URL parser
 * compresses zeros and lower-cases), IPv4 as is.
 */
function canonicalIp(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped !== null) return mapped[1] as string;
  if (isIP(address) === 6) return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  return address;
}

function resolveUntil(value: unknown): Date | undefined {
  if (value === undefined) return undefined;
  const at =
    value instanceof Date
      ? value.getTime()
      : typeof value === 'string'
        ? Date.parse(value)
        : typeof value === 'number'
          ? value
          : Number.NaN;
  if (!Number.isFinite(at)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `maintenance until must be a Date, a date string such as "2030-01-01T06:00:00Z", or epoch milliseconds; got ${JSON.stringify(value)}.`,
    );
  }
  return new Date(at);
}

/** With a store the state is data every instance reads: a function of this process cannot be part of it. */
function sharedFunction(): Error {
  return configError(
    'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
    'maintenance() with a store shares its state with every instance, and a function cannot be shared: give enabled as true or false and switch it with gate.enabled = ... on any instance, or leave store out to keep the function.',
  );
}

function resolveEnabled(value: unknown, shared = false): () => boolean {
  if (typeof value === 'function') {
    if (shared) throw sharedFunction();
    return value as () => boolean;
  }
  if (typeof value === 'boolean') return () => value;
  throw configError(
    'GATEWAY_ERRORS_INVALID_OPTION',
    `maintenance enabled must be true, false, or a function that returns one; got ${typeof value}.`,
  );
}

function resolveAllow(allow: MaintenanceAllowList = {}): ResolvedAllowList {
  checkOptions(allow, ['paths', 'ips', 'header', 'robotsTxt'], 'maintenance() allow');
  const robotsTxt = booleanOption(allow.robotsTxt, 'maintenance allow.robotsTxt', true);
  const paths = allow.paths ?? [];
  if (!Array.isArray(paths)) {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'maintenance allow.paths must be a list, such as ["/status"].');
  }
  const prefixes: string[] = [];
  const patterns: RegExp[] = [];
  for (const path of paths) {
    if (path instanceof RegExp) patterns.push(path);
    else if (typeof path === 'string' && path.startsWith('/')) prefixes.push(path.replace(/\/+$/, '') || '/');
    else {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `maintenance allow.paths entries must be paths starting with "/" or RegExps; got ${JSON.stringify(path)}.`,
      );
    }
  }
  const ips = allow.ips ?? [];
  if (!Array.isArray(ips)) {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'maintenance allow.ips must be a list, such as ["10.0.0.5"].');
  }
  for (const ip of ips) {
    if (typeof ip !== 'string' || isIP(ip) === 0) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `maintenance allow.ips entries must be IP addresses such as "10.0.0.5" or "::1" (no ranges); got ${JSON.stringify(ip)}.`,
      );
    }
  }
  let header: ResolvedAllowList['header'];
  if (allow.header !== undefined) {
    checkOptions(allow.header, ['name', 'value'], 'maintenance() allow.header');
    const { name, value } = allow.header;
    if (typeof name !== 'string' || !headerName.test(name)) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `maintenance allow.header.name must be a header name such as "x-maintenance-bypass"; got ${JSON.stringify(name)}.`,
      );
    }
    if (typeof value !== 'string' || value.length < 16) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        'maintenance allow.header.value must be a secret string of at least 16 characters (a random token).',
      );
    }
    header = Object.freeze({ name: name.toLowerCase(), digest: digest(value) });
  }
  return Object.freeze({
    prefixes: Object.freeze(prefixes),
    patterns: Object.freeze(patterns),
    ips: new Set(ips.map(canonicalIp)),
    header,
    robotsTxt,
  });
}

/**
 * The request's path in the form the upstream will see it, or `undefined` when it is not in normal form: dot
 * segments (`/status/../admin`), backslashes or an encoded slash could make an allowed prefix match while the
 * upstream serves something else, so such a path is never allowed through.
 */
function normalPath(req: IncomingMessage): string | undefined {
  const raw = originalUrlOf(req);
  const path = raw.split('?', 1)[0] as string;
  if (!path.startsWith('/') || path.includes('\\') || /%2f|%5c|%2e/i.test(path)) return undefined;
  let normal: string;
  try {
    normal = new URL(path, 'http://host').pathname;
  } catch {
    return undefined;
  }
  return normal === path ? path : undefined;
}

/** The mark of a request that maintenance let through while on. Shared by every copy of the package. */
const letThrough: unique symbol = Symbol.for('gateway-errors.maintenance-let-through');

/**
 * Whether a maintenance gate that is on let `req` through (an allowed path, address or header, or robots.txt): a
 * stale copy never answers such a request, which is checking the real state of a site closed on purpose.
 */
export function letThroughMaintenance(req: IncomingMessage): boolean {
  return (req as IncomingMessage & { [letThrough]?: true })[letThrough] === true;
}

/** The state every instance of a shared gate holds; the one set last (`at`, then `by`) wins. */
interface SharedState {
  readonly enabled: boolean;
  /** Epoch milliseconds, or null. */
  readonly until: number | null;
  /** When it was set, epoch milliseconds; 0 for the options' state, which any setting replaces. */
  readonly at: number;
  /** Which instance set it. */
  readonly by: string;
}

/** A state read from the store or a message, or `undefined` for anything else (garbage is ignored, not applied). */
function parseState(text: string): SharedState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const state = value as Partial<SharedState> | null;
  if (
    typeof state?.enabled !== 'boolean' ||
    !(state.until === null || (typeof state.until === 'number' && Number.isFinite(state.until))) ||
    typeof state.at !== 'number' ||
    !Number.isFinite(state.at) ||
    typeof state.by !== 'string' ||
    state.by.length > 256
  ) {
    return undefined;
  }
  return { enabled: state.enabled, until: state.until, at: state.at, by: state.by };
}

function newer(a: SharedState, b: SharedState): boolean {
  return a.at > b.at || (a.at === b.at && a.by > b.by);
}

/** This instance, as a shared state names it. */
const thisInstance = `${hostname()}:${process.pid}`;

class Gate extends EventEmitter<MaintenanceGateEvents> implements MaintenanceGate {
  #enabled: () => boolean;
  #until: Date | undefined;
  readonly #allow: ResolvedAllowList;
  readonly #now: () => number;
  readonly #store: GatewayStore | undefined;
  readonly #key: string;
  /** With a store: the state this instance holds (the options', a local setting, or the newest one it heard of). */
  #shared: SharedState | undefined;

  constructor(options: MaintenanceOptions, now: () => number) {
    super();
    checkOptions(options, ['enabled', 'until', 'allow', 'store', 'name'], 'maintenance()');
    const store = options.store;
    if (store !== undefined && (typeof store?.subscribe !== 'function' || typeof store.get !== 'function')) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        'maintenance() store must be a store, such as redisStore({ url }) from @gateway-errors/redis or memoryStore().',
      );
    }
    const name = options.name ?? 'default';
    if (typeof name !== 'string' || !/^[\w.:-]{1,100}$/.test(name)) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `maintenance() name must be 1 to 100 letters, digits, "_", ".", ":" or "-", such as "shop"; got ${JSON.stringify(name)}.`,
      );
    }
    this.#enabled = resolveEnabled(options.enabled ?? store === undefined, store !== undefined);
    this.#until = resolveUntil(options.until);
    this.#allow = resolveAllow(options.allow);
    this.#now = now;
    this.#store = store;
    this.#key = `maintenance:${name}`;
    if (store !== undefined) {
      this.#shared = { enabled: this.#enabled(), until: this.#until?.getTime() ?? null, at: 0, by: thisInstance };
      store.subscribe(this.#key, (message) => this.#heard(message));
      // Read now (a new instance starts from the stored state), and again whenever the store returns, when a state
      // set here meanwhile is sent unless a newer one was set elsewhere.
      this.#quietly(this.#sync());
      store.on('up', () => this.#quietly(this.#sync()));
    }
  }

  get enabled(): boolean {
    return this.#enabled() === true;
  }

  set enabled(value: boolean | (() => boolean)) {
    this.#enabled = resolveEnabled(value, this.#store !== undefined);
    this.#setLocally();
  }

  get until(): Date | undefined {
    return this.#until;
  }

  set until(value: Date | string | number | undefined) {
    this.#until = resolveUntil(value);
    this.#setLocally();
  }

  #setLocally(): void {
    if (this.#store !== undefined) {
      const until = this.#until?.getTime() ?? null;
      this.#shared = {
        enabled: this.#enabled(),
        until,
        at: Math.max(this.#now(), (this.#shared?.at ?? 0) + 1),
        by: thisInstance,
      };
      this.#quietly(this.#send(this.#shared));
    }
    if (this.listenerCount('change') > 0)
      this.emit('change', { enabled: this.enabled, until: this.#until, source: 'local' });
  }

  /** The contract says a store never rejects; one of a user's own might, and must not become an unhandled rejection. */
  #quietly(work: Promise<void>): void {
    work.catch(() => {});
  }

  async #send(state: SharedState): Promise<void> {
    const text = JSON.stringify(state);
    // Kept first, then announced: an instance that hears of it and reads the store finds it there.
    await this.#store?.set(this.#key, Buffer.from(text));
    await this.#store?.publish(this.#key, text);
  }

  async #sync(): Promise<void> {
    const stored = await this.#store?.get(this.#key);
    const state = stored === undefined ? undefined : parseState(stored.toString('utf8'));
    const local = this.#shared as SharedState;
    if (state !== undefined && newer(state, local)) this.#apply(state);
    else if (local.at > 0 && (state === undefined || newer(local, state))) await this.#send(local);
  }

  #heard(message: string): void {
    const state = parseState(message);
    if (state !== undefined && newer(state, this.#shared as SharedState)) this.#apply(state);
  }

  #apply(state: SharedState): void {
    this.#shared = state;
    this.#enabled = resolveEnabled(state.enabled);
    this.#until = state.until === null ? undefined : new Date(state.until);
    if (this.listenerCount('change') > 0) {
      this.emit('change', { enabled: state.enabled, until: this.#until, source: 'store', by: state.by });
    }
  }

  check(req: IncomingMessage): GatewayFailure | undefined {
    if (!this.enabled) return undefined;
    if (this.#allowed(req)) {
      (req as IncomingMessage & { [letThrough]?: true })[letThrough] = true;
      return undefined;
    }
    const left = this.#until === undefined ? 0 : this.#until.getTime() - this.#now();
    // RFC 9110 §10.2.3: Retry-After in seconds; once the window has run over, the responder's short hint applies.
    return failureOf('proxy_internal_response', { retryAfter: left > 0 ? Math.ceil(left / 1000) : undefined });
  }

  #allowed(req: IncomingMessage): boolean {
    const { prefixes, patterns, ips, header, robotsTxt } = this.#allow;
    if (robotsTxt && (req.method === 'GET' || req.method === 'HEAD') && normalPath(req) === '/robots.txt') return true;
    if (ips.size > 0) {
      const address = req.socket?.remoteAddress;
      if (address !== undefined && ips.has(canonicalIp(address))) return true;
    }
    if (header !== undefined) {
      const given = req.headers[header.name];
      // Hashing first makes both sides 32 bytes, so neither the value nor its length leaks through timing.
      if (typeof given === 'string' && timingSafeEqual(digest(given), header.digest)) return true;
    }
    if (prefixes.length > 0 || patterns.length > 0) {
      const path = normalPath(req);
      if (path === undefined) return false;
      for (const prefix of prefixes) {
        if (prefix === '/' || path === prefix || path.startsWith(`${prefix}/`)) return true;
      }
      for (const pattern of patterns) {
        pattern.lastIndex = 0;
        if (pattern.test(path)) return true;
      }
    }
    return false;
  }
}

/**
 * Creates a maintenance gate: validated once, asked once per request. Adapters wrap it as `maintenance(options)`
 * middleware; the page is the 503 template with the maintenance copy. With a `store`, the switch is shared by every
 * instance that uses the same store and name. `now` (wall-clock milliseconds) is for tests.
 * @example
 * const gate = createMaintenance({ until: '2030-01-01T06:00:00Z', allow: { ips: ['10.0.0.5'], paths: ['/health'] } });
 * const failure = gate.check(req);
 * if (failure) return errors.send(failure, req, res); // 503, Retry-After until 06:00
 * gate.enabled = false; // reopen
 */
export function createMaintenance(options: MaintenanceOptions = {}, now: () => number = Date.now): MaintenanceGate {
  return new Gate(options, now);
}
