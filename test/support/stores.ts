/**
 * A shared store that misbehaves on purpose, as a Redis can: it answers late or never, fails, or hands back a value
 * cut short, garbled, or written by another version. Over a real memoryStore(), so everything else is the contract's.
 */
import { EventEmitter } from 'node:events';
import { type GatewayStore, type GatewayStoreEvents, memoryStore } from '@gateway-errors/core';

/** How {@link faultyStore} answers `get`. */
export type StoreFault =
  /** As the store has it. */
  | 'none'
  /** Never resolves. */
  | 'hang'
  /** Answers as the store has it when `release()` is called. */
  | 'late'
  /** Rejects (the contract says it never does: a store of a user's own might). */
  | 'reject'
  /** Throws before returning a promise. */
  | 'throw'
  /** The value without its last bytes. */
  | 'truncate'
  /** The value with one byte of its body changed. */
  | 'garble'
  /** Bytes of another version, or of something else entirely. */
  | 'foreign';

export interface FaultyStore extends GatewayStore {
  /** How `get` answers from now on. */
  fault: StoreFault;
  /** The keys written with `set`, in order. */
  readonly writes: string[];
  /** The keys read with `get`, in order. */
  readonly reads: string[];
  /** The store's own time bound it declares (the contract's `timeout`); none by default. */
  timeout?: number;
  /** Answers the reads held by the `late` fault. */
  release(): void;
}

class Faulty extends EventEmitter<GatewayStoreEvents> implements FaultyStore {
  readonly kind = 'faulty';
  fault: StoreFault = 'none';
  readonly writes: string[] = [];
  readonly reads: string[] = [];
  timeout?: number;
  readonly #inner = memoryStore();
  #held: (() => void)[] = [];

  release(): void {
    for (const answer of this.#held.splice(0)) answer();
  }

  get(key: string): Promise<Buffer | undefined> {
    this.reads.push(key);
    if (this.fault === 'throw') throw new Error('store broken');
    return this.#get(key);
  }

  async #get(key: string): Promise<Buffer | undefined> {
    switch (this.fault) {
      case 'hang':
        return new Promise(() => {});
      case 'late':
        return new Promise((resolve) => this.#held.push(() => resolve(this.#inner.get(key))));
      case 'reject':
        throw new Error('store down');
      case 'foreign':
        return Buffer.from('GEC9{"key":"whatever"}');
    }
    const value = await this.#inner.get(key);
    if (value === undefined || this.fault === 'none') return value;
    if (this.fault === 'truncate') return value.subarray(0, value.length - 3);
    const garbled = Buffer.from(value);
    const at = garbled.length - 6;
    garbled[at] = (garbled[at] as number) ^ 0xff;
    return garbled;
  }

  set(key: string, value: Buffer, ttl?: number): Promise<void> {
    this.writes.push(key);
    return this.#inner.set(key, value, ttl);
  }

  lock(key: string, owner: string, ttl: number): Promise<boolean> {
    return this.#inner.lock(key, owner, ttl);
  }

  publish(channel: string, message: string): Promise<void> {
    return this.#inner.publish(channel, message);
  }

  subscribe(channel: string, listener: (message: string) => void): () => void {
    return this.#inner.subscribe(channel, listener);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** A store whose reads misbehave as `fault` says (switch it at run time). */
export function faultyStore(): FaultyStore {
  return new Faulty();
}
