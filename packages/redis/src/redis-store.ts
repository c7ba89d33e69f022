import { EventEmitter } from 'node:events';
import { configError, type GatewayStore, type GatewayStoreEvents, gatewayWarning } from '@gateway-errors/core';
import { createClient, RESP_TYPES } from '@redis/client';

/**
 * What the store uses of a node-redis client (`createClient()` of `redis` or `@redis/client`, version 5 or later):
 * raw commands, a duplicate for pub/sub, its state and its events.
 */
export interface RedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  connect(): Promise<unknown>;
  duplicate(): RedisClientLike;
  sendCommand(args: readonly (string | Buffer)[], options?: { typeMapping?: object }): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  destroy(): unknown;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** Options of {@link redisStore}. Give `url` or `client`, not both. */
export interface RedisStoreOptions {
  /**
   * The Redis to connect to (`redis://[[user]:password@]host[:port][/db]`, `rediss://` for TLS). The store makes two
   * connections (commands, and pub/sub) and ends them on `close()`.
   * @default 'redis://127.0.0.1:6379'
   */
  url?: string;
  /**
   * Your own node-redis client (version 5 or later) instead of `url`: the store sends its commands on it, and makes
   * its pub/sub connection with `client.duplicate()`. `close()` ends only that duplicate: your client stays yours.
   * @default undefined
   */
  client?: RedisClientLike;
  /**
   * Put before every key and channel, so that gateways share a Redis with other applications (and with each other:
   * a different prefix is a different fleet).
   * @default 'gateway-errors:'
   */
  prefix?: string;
  /**
   * How long a command may take, in milliseconds, before it is given up (a read resolves `undefined`, a lock `false`).
   * Three in a row mean the store is down. Nothing on a request's happy path waits for a command.
   * @default 20
   */
  timeout?: number;
  /**
   * Emit a process warning (`GATEWAY_ERRORS_STORE_DOWN`, printed to stderr by default) once per outage. Turn it off
   * when you log the store's `down` event yourself.
   * @default true
   */
  warn?: boolean;
}

/** A command that does not answer is given up; this many given up in a row is an outage. */
const timeoutsForOutage = 3;
/** Commands waiting for an answer at most; more resolve at once, so a hung Redis holds no growing queue. */
const maxInFlight = 1000;
/** How long a new store may take to connect (TCP, the handshake, the subscriptions) before it counts as down. */
const connectTimeout = 2000;
/** While down with an open connection (a Redis that hangs or sends garbage), how often it is asked whether it is back. */
const probeInterval = 1000;

const buffers = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };

/**
 * Takes the lock for the owner, or extends it when the owner holds it, in one step (a script runs atomically): SET NX
 * alone cannot extend, and a GET then PEXPIRE could extend a lock another instance just took.
 */
const lockScript = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;

/** Reconnects soon, then every 2 s at most, with jitter so that a fleet does not reconnect in step. */
function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100);
}

class RedisStore extends EventEmitter<GatewayStoreEvents> implements GatewayStore {
  readonly kind = 'redis';
  /** The `timeout` option: every command is given up after it. */
  readonly timeout: number;
  readonly #client: RedisClientLike;
  readonly #subscriber: RedisClientLike;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #warn: boolean;
  readonly #where: string;
  /** Listeners by channel, without the prefix. */
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  /** Channels (with the prefix) Redis confirmed a subscription to; node-redis renews them after a reconnect. */
  readonly #subscribed = new Set<string>();
  readonly #detach: (() => void)[] = [];
  /** Whether `up` was emitted and no outage since. */
  #up = false;
  /** Whether `down` was emitted for the current outage. */
  #outage = false;
  #timeouts = 0;
  #inFlight = 0;
  #probe: NodeJS.Timeout | undefined;
  readonly #connecting: NodeJS.Timeout;
  #closed = false;

  constructor(client: RedisClientLike, ownsClient: boolean, options: ResolvedRedisStoreOptions) {
    super();
    // One store serves every gate, proxy, health checker and shared circuit of the process: each listens to `up`.
    this.setMaxListeners(0);
    this.#client = client;
    this.#ownsClient = ownsClient;
    this.#prefix = options.prefix;
    this.timeout = options.timeout;
    this.#warn = options.warn;
    this.#where = options.where;
    this.#subscriber = client.duplicate();
    this.#listen(client, () => this.#checkUp());
    this.#listen(this.#subscriber, () => void this.#resubscribe());
    if (!client.isOpen) client.connect().catch(() => {});
    this.#subscriber.connect().catch(() => {});
    // A refused connection says so at once; one that opens and then never completes its handshake (not a Redis on
    // that port) says nothing.
    this.#connecting = setTimeout(() => {
      if (!this.#up) this.#markDown(new Error(`Redis at ${this.#where} did not answer within ${connectTimeout} ms`));
    }, connectTimeout).unref();
  }

  async get(key: string): Promise<Buffer | undefined> {
    const value = await this.#command(['GET', this.#prefix + key], buffers);
    return Buffer.isBuffer(value) ? value : undefined;
  }

  async set(key: string, value: Buffer, ttl?: number): Promise<void> {
    if (ttl === undefined) await this.#command(['SET', this.#prefix + key, value]);
    else if (ttl > 0 && Number.isFinite(ttl)) {
      await this.#command(['SET', this.#prefix + key, value, 'PX', String(Math.ceil(ttl))]);
    } else await this.#command(['DEL', this.#prefix + key]);
  }

  async lock(key: string, owner: string, ttl: number): Promise<boolean> {
    if (!(ttl > 0 && Number.isFinite(ttl))) return false;
    const reply = await this.#command(['EVAL', lockScript, '1', this.#prefix + key, owner, String(Math.ceil(ttl))]);
    return reply === 1;
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#command(['PUBLISH', this.#prefix + channel, message]);
  }

  subscribe(channel: string, listener: (message: string) => void): () => void {
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
      if (this.#subscriber.isReady) void this.#subscribeRedis(channel);
    }
    const wrapped = (message: string) => listener(message);
    listeners.add(wrapped);
    return () => {
      const current = this.#channels.get(channel);
      current?.delete(wrapped);
      if (current?.size !== 0) return;
      this.#channels.delete(channel);
      const prefixed = this.#prefix + channel;
      if (this.#subscribed.delete(prefixed) && !this.#closed) this.#subscriber.unsubscribe(prefixed).catch(() => {});
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#probe);
    clearTimeout(this.#connecting);
    for (const detach of this.#detach) detach();
    this.#channels.clear();
    this.#subscribed.clear();
    // Commands still waiting are rejected by destroy(); #command has handled them.
    destroyQuietly(this.#subscriber);
    if (this.#ownsClient) destroyQuietly(this.#client);
  }

  /**
   * Sends a command when the connection is ready, and gives it up after `timeout`: never queued while disconnected
   * (a request must not wait for a reconnect), never rejects. `undefined` when there was no answer in time.
   */
  #command(args: readonly (string | Buffer)[], options?: { typeMapping?: object }): Promise<unknown> {
    if (this.#closed || !this.#client.isReady || this.#inFlight >= maxInFlight) return Promise.resolve(undefined);
    this.#inFlight++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        resolve(undefined);
        if (++this.#timeouts >= timeoutsForOutage) {
          this.#markDown(new Error(`Redis at ${this.#where} did not answer within ${this.timeout} ms`));
        }
      }, this.timeout);
      const settle = (reply: unknown) => {
        this.#inFlight--;
        clearTimeout(timer);
        resolve(reply);
      };
      let sent: Promise<unknown>;
      try {
        sent = this.#client.sendCommand(args, options);
      } catch (error) {
        // A client of the user's own that throws instead of rejecting: no answer, as for an error reply.
        sent = Promise.reject(error);
      }
      sent.then(
        (reply) => {
          this.#timeouts = 0;
          settle(reply);
          if (this.#outage) this.#checkUp();
        },
        // An error reply (WRONGTYPE, OOM under maxmemory, a closed connection): nothing to return.
        () => settle(undefined),
      );
    });
  }

  #listen(client: RedisClientLike, onReady: () => void): void {
    const onError = (error: unknown) =>
      this.#markDown(error instanceof Error ? error : new Error(`Redis at ${this.#where}: ${String(error)}`));
    const onLost = () => this.#markDown(new Error(`the connection to Redis at ${this.#where} was lost`));
    client.on('error', onError);
    client.on('reconnecting', onLost);
    client.on('ready', onReady);
    this.#detach.push(() => {
      client.off('error', onError);
      client.off('reconnecting', onLost);
      client.off('ready', onReady);
    });
  }

  /** Subscribes, once the pub/sub connection is (again) ready, to the channels Redis does not know yet. */
  async #resubscribe(): Promise<void> {
    await Promise.all([...this.#channels.keys()].map((channel) => this.#subscribeRedis(channel)));
    this.#checkUp();
  }

  async #subscribeRedis(channel: string): Promise<void> {
    const prefixed = this.#prefix + channel;
    if (this.#subscribed.has(prefixed) || this.#closed) return;
    const deliver = (message: string) => {
      for (const listener of [...(this.#channels.get(channel) ?? [])]) {
        // A listener that throws must not break the connection's reading: its error surfaces on its own.
        try {
          listener(message);
        } catch (error) {
          process.nextTick(() => {
            throw error;
          });
        }
      }
    };
    try {
      await this.#subscriber.subscribe(prefixed, deliver);
      this.#subscribed.add(prefixed);
    } catch {
      // Not connected after all: subscribed again when it is ready.
    }
  }

  /** Emits `up` once both connections are ready and every channel is subscribed. */
  #checkUp(): void {
    if (this.#closed || this.#up || !this.#client.isReady || !this.#subscriber.isReady) return;
    for (const channel of this.#channels.keys()) if (!this.#subscribed.has(this.#prefix + channel)) return;
    this.#up = true;
    this.#outage = false;
    this.#timeouts = 0;
    clearInterval(this.#probe);
    this.#probe = undefined;
    this.emit('up');
  }

  #markDown(error: Error): void {
    if (this.#closed) return;
    this.#up = false;
    if (this.#outage) return;
    this.#outage = true;
    // A connection that stays open but does not answer (a hung Redis, garbage on the wire) sends no `ready` when it
    // recovers: ask it now and then.
    this.#probe = setInterval(() => {
      if (this.#client.isReady) void this.#command(['PING']);
    }, probeInterval).unref();
    this.emit('down', error);
    if (this.#warn) {
      // Once per outage: this point is reached once per outage, so each outage is its own reason.
      gatewayWarning(
        'GATEWAY_ERRORS_STORE_DOWN',
        `the Redis store at ${this.#where} is unreachable (${error.message}); every instance goes on with its last known state until it returns.`,
        { per: {} },
      );
    }
  }
}

function destroyQuietly(client: RedisClientLike): void {
  try {
    client.destroy();
  } catch {}
}

interface ResolvedRedisStoreOptions {
  readonly prefix: string;
  readonly timeout: number;
  readonly warn: boolean;
  /** Where the store connects, for messages: host and port, never the password. */
  readonly where: string;
}

const known = ['url', 'client', 'prefix', 'timeout', 'warn'];

function resolve(options: RedisStoreOptions): ResolvedRedisStoreOptions & { url: URL | undefined } {
  if (typeof options !== 'object' || options === null) {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'redisStore() takes an options object, such as { url }.');
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw configError(
        'GATEWAY_ERRORS_UNKNOWN_OPTION',
        `redisStore() has no option "${key}". Known options: ${known.join(', ')}.`,
      );
    }
  }
  if (options.url !== undefined && options.client !== undefined) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      'redisStore() takes url or client, not both: give your client its URL.',
    );
  }
  let url: URL | undefined;
  if (options.client === undefined) {
    try {
      url = new URL(options.url ?? 'redis://127.0.0.1:6379');
    } catch {}
    if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        `redisStore() url must be a redis:// or rediss:// URL, such as "redis://127.0.0.1:6379"; got ${JSON.stringify(options.url)}.`,
      );
    }
  } else {
    const client = options.client as Partial<RedisClientLike> | null;
    if (typeof client?.sendCommand !== 'function' || typeof client.duplicate !== 'function') {
      throw configError(
        'GATEWAY_ERRORS_INVALID_OPTION',
        'redisStore() client must be a node-redis client (createClient() of "redis" or "@redis/client", version 5 or later).',
      );
    }
  }
  const prefix = options.prefix ?? 'gateway-errors:';
  if (typeof prefix !== 'string') {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      'redisStore() prefix must be a string, such as "gateway-errors:".',
    );
  }
  const timeout = options.timeout ?? 20;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 60_000) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `redisStore() timeout must be a number of milliseconds from 1 to 60000, such as 20; got ${String(timeout)}.`,
    );
  }
  const warn = options.warn ?? true;
  if (typeof warn !== 'boolean') {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'redisStore() warn must be true or false.');
  }
  const where = url === undefined ? 'your client' : url.host;
  return { url, prefix, timeout, warn, where };
}

/**
 * A {@link GatewayStore} on Redis: every gateway instance that uses one with the same Redis and prefix shares its
 * maintenance switch, its good copies and its health results. Redis is never in a request's way: nothing waits on it
 * longer than `timeout`, and while it is unreachable every instance goes on with what it knows (a `down` event, and a
 * process warning, once per outage), then resumes when it returns (reconnect, subscribe again, send again).
 * `close()` ends its connections.
 * @example
 * const store = redisStore({ url: process.env.REDIS_URL });
 * app.use(maintenance({ store, enabled: false }));
 * app.use('/api', gatewayProxy({ target: 'http://10.0.0.1:4000', store, healthCheck: { path: '/health' } }));
 * store.on('down', (error) => logger.warn({ err: error }, 'shared state unreachable'));
 */
export function redisStore(options: RedisStoreOptions = {}): GatewayStore {
  const resolved = resolve(options);
  const client =
    options.client ??
    (createClient({
      url: resolved.url?.href,
      // A command sent while disconnected fails at once instead of waiting for a reconnect (the store checks first).
      disableOfflineQueue: true,
      socket: { connectTimeout, reconnectStrategy: reconnectDelay },
    }) as unknown as RedisClientLike);
  return new RedisStore(client, options.client === undefined, resolved);
}
