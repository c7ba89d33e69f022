import { EventEmitter } from 'node:events';
import { checkOptions, wholeNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import type { GatewayStore, GatewayStoreEvents } from './store.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The most bytes of values kept (keys and bookkeeping aside). When a new entry would pass it, the entries with a
   * time to live that were used least recently go first; entries without one (the maintenance state) always stay.
   * @default 67108864 (64 MiB)
   */
  maxBytes?: number;
  /**
   * Wall-clock milliseconds, for the time to live of entries and locks. For tests.
   * @default Date.now
   */
  now?: () => number;
}

interface Entry {
  readonly value: Buffer;
  /** Wall-clock milliseconds after which the entry is gone; `Infinity` for none. */
  readonly expiresAt: number;
}

interface Held {
  readonly owner: string;
  readonly expiresAt: number;
}

class MemoryStore extends EventEmitter<GatewayStoreEvents> implements GatewayStore {
  readonly kind = 'memory';
  readonly #maxBytes: number;
  readonly #now: () => number;
  /** In order of last use, oldest first: a Map iterates in insertion order, so an entry is re-inserted on use. */
  readonly #entries = new Map<string, Entry>();
  readonly #locks = new Map<string, Held>();
  readonly #channels = new Map<string, Set<(message: string) => void>>();
  #bytes = 0;
  #closed = false;

  constructor(maxBytes: number, now: () => number) {
    super();
    // One store serves every gate, proxy, health checker and shared circuit of the process: each may listen to it.
    this.setMaxListeners(0);
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const entry = this.#entries.get(key);
    if (entry === undefined || this.#closed) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= this.#now()) {
      this.#bytes -= entry.value.length;
      return undefined;
    }
    this.#entries.set(key, entry);
    return entry.value;
  }

  async set(key: string, value: Buffer, ttl?: number): Promise<void> {
    if (this.#closed) return;
    this.#forget(key);
    // An entry that could never fit is not kept, rather than emptying the store for it.
    if (ttl !== undefined && (ttl <= 0 || value.length > this.#maxBytes)) return;
    this.#entries.set(key, { value, expiresAt: ttl === undefined ? Number.POSITIVE_INFINITY : this.#now() + ttl });
    this.#bytes += value.length;
    if (this.#bytes > this.#maxBytes) this.#evict();
  }

  async lock(key: string, owner: string, ttl: number): Promise<boolean> {
    if (this.#closed) return false;
    const now = this.#now();
    const held = this.#locks.get(key);
    if (held !== undefined && held.owner !== owner && held.expiresAt > now) return false;
    this.#locks.set(key, { owner, expiresAt: now + ttl });
    return true;
  }

  async publish(channel: string, message: string): Promise<void> {
    const listeners = this.#channels.get(channel);
    if (listeners === undefined || this.#closed) return;
    // Delivered later, as a shared store delivers: a publisher never runs its subscribers inside its own call.
    for (const listener of [...listeners]) queueMicrotask(() => listener(message));
  }

  subscribe(channel: string, listener: (message: string) => void): () => void {
    let listeners = this.#channels.get(channel);
    if (listeners === undefined) {
      listeners = new Set();
      this.#channels.set(channel, listeners);
    }
    const wrapped = (message: string) => listener(message);
    listeners.add(wrapped);
    return () => {
      listeners.delete(wrapped);
      if (listeners.size === 0) this.#channels.delete(channel);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    this.#locks.clear();
    this.#channels.clear();
    this.#bytes = 0;
  }

  #forget(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.value.length;
  }

  /** Drops expired entries, then the least recently used ones with a time to live, until the values fit. */
  #evict(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) return;
      if (entry.expiresAt <= now || Number.isFinite(entry.expiresAt)) this.#forget(key);
    }
  }
}

/**
 * The default store: this process's memory, shared by nothing else. Bounded by `maxBytes`, least recently used first.
 * @example
 * const store = memoryStore({ maxBytes: 16 * 1024 * 1024 });
 */
export function memoryStore(options: MemoryStoreOptions = {}): GatewayStore {
  checkOptions(options, ['maxBytes', 'now'], 'memoryStore()');
  const maxBytes = wholeNumber(options.maxBytes ?? 64 * 1024 * 1024, 'memoryStore() maxBytes', 1, 2 ** 40);
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'memoryStore() now must be a function, such as Date.now.');
  }
  return new MemoryStore(maxBytes, options.now ?? Date.now);
}
