import type { EventEmitter } from 'node:events';

/** Events of a store: its outages, for logs and for the state that must be sent again when it returns. */
export interface GatewayStoreEvents {
  /** The store stopped answering (once per outage): everything goes on with local state. */
  down: [error: Error];
  /**
   * The store answers, with its subscriptions active: once it first connected, and again after each outage. Read
   * the shared state again then (it may have changed meanwhile), and send what was set locally while it was down.
   * A store that is always there (the memory store) never emits it.
   */
  up: [];
}

/**
 * Where state that every instance of a gateway shares lives: maintenance, good copies (robots.txt, stale-if-error)
 * and health results. The default is {@link memoryStore}, which shares nothing beyond this process; a shared one
 * (`redisStore()` from `@gateway-errors/redis`) lets many instances act as one.
 *
 * The contract is small on purpose, and it is what keeps a store out of a request's way:
 * - **Nothing rejects.** A store that cannot answer in its own short time bound (a few milliseconds for Redis)
 *   resolves `get` with `undefined`, `lock` with `false`, and drops a `set` or `publish`; it emits `down` once per
 *   outage and `up` when it answers again. Callers always hold a local copy of what they need to serve requests.
 * - **Bounded.** Every `set` carries a time to live, or none for a small value that must last (the maintenance
 *   state); a store may evict entries that have a time to live when it is full, never those without.
 * - **Values are bytes**, keys are strings without the store's own prefix (a store namespaces them itself).
 */
export interface GatewayStore extends EventEmitter<GatewayStoreEvents> {
  /** What kind of store this is, for events and logs: `memory`, `redis`. */
  readonly kind: string;
  /**
   * This store's own time bound, in milliseconds: no operation takes longer before it settles (with an answer, or
   * none). A request that failed waits this long at most for a copy kept in the store. Without one, 5 ms.
   */
  readonly timeout?: number;
  /** The value of `key`, or `undefined` when it is absent, expired, or the store cannot answer in time. */
  get(key: string): Promise<Buffer | undefined>;
  /**
   * Stores `value` at `key`, for `ttl` milliseconds (an entry that may be evicted when the store is full), or with
   * no time to live when `ttl` is undefined (kept until replaced).
   */
  set(key: string, value: Buffer, ttl?: number): Promise<void>;
  /**
   * Takes the lock `key` for `owner` for `ttl` milliseconds, or extends it when `owner` already holds it: `true` when
   * `owner` holds it now. For work one instance does for all (an active health check per interval); a lock lapses
   * by itself, so an instance that dies never holds one for long.
   */
  lock(key: string, owner: string, ttl: number): Promise<boolean>;
  /** Sends `message` to every subscriber of `channel`, on every instance, this one included. */
  publish(channel: string, message: string): Promise<void>;
  /**
   * Calls `listener` with every message published on `channel` from now on (never with one from before: read the
   * current state with `get` after subscribing, and again on `up`). Messages carry state, not commands: one may come
   * twice, or be lost in an outage (hence the reading again on `up`). Returns the function that unsubscribes.
   */
  subscribe(channel: string, listener: (message: string) => void): () => void;
  /** Ends the store's connections and timers; later calls do nothing. Resolves once it is closed. */
  close(): Promise<void>;
}
