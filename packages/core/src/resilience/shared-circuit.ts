import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { GatewayStore } from '../store/store.js';
import type { BreakerStateChange, CircuitBreaker, ResolvedBreakerOptions } from './breaker.js';

/** A breaker's circuit, shared with the other instances through a store (`breaker.shared`). */
export interface CircuitSharing {
  /**
   * Whether this instance may send the half-open probe now: when it holds the probe lock, or when the store is down
   * (each breaker is on its own then). Never waits: when it does not know, it asks the store in the background (at
   * most once a second) and answers no meanwhile.
   */
  mayProbe(): boolean;
  /** Stops listening to the store and the breaker. */
  close(): void;
}

/** What the store keeps and publishes about a circuit. */
interface SharedCircuitState {
  readonly open: boolean;
  /** Epoch milliseconds the circuit stays open until. */
  readonly until?: number;
  /** The instance that opened or closed it. */
  readonly by: string;
}

function parseState(text: string): SharedCircuitState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const state = value as Partial<SharedCircuitState> | null;
  if (typeof state?.open !== 'boolean' || typeof state.by !== 'string') return undefined;
  if (state.open && !(typeof state.until === 'number' && Number.isFinite(state.until))) return undefined;
  return { open: state.open, until: state.until, by: state.by };
}

/** The contract says a store never rejects; one of a user's own might, and must not become an unhandled rejection. */
function quietly(work: Promise<void>): void {
  work.catch(() => {});
}

/** How often an instance that does not hold the probe lock asks for it again (the holder may have died). */
const askEvery = 1000;

class SharedCircuit implements CircuitSharing {
  readonly #breaker: CircuitBreaker;
  readonly #store: GatewayStore;
  readonly #options: ResolvedBreakerOptions;
  readonly #stateKey: string;
  readonly #lockKey: string;
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID()}`;
  readonly #stop: (() => void)[] = [];
  /** Epoch milliseconds until which this instance holds the probe lock. */
  #lockedUntil = 0;
  #asking = false;
  #nextAsk = 0;
  #storeDown = false;

  constructor(breaker: CircuitBreaker, store: GatewayStore, key: string, options: ResolvedBreakerOptions) {
    this.#breaker = breaker;
    this.#store = store;
    this.#options = options;
    this.#stateKey = `breaker:${key}`;
    this.#lockKey = `lock:breaker:${key}`;
    const onState = (change: BreakerStateChange) => {
      // What another instance said is not said again.
      if (change.reason === 'shared') return;
      if (change.to === 'open') quietly(this.#opened(change.openFor ?? options.openFor));
      else if (change.to === 'closed') quietly(this.#closed());
    };
    const onDown = () => {
      this.#storeDown = true;
    };
    const onUp = () => {
      this.#storeDown = false;
      quietly(this.#read());
    };
    breaker.on('state', onState);
    store.on('down', onDown);
    store.on('up', onUp);
    this.#stop.push(
      store.subscribe(this.#stateKey, (message) => this.#heard(message)),
      () => {
        breaker.off('state', onState);
        store.off('down', onDown);
        store.off('up', onUp);
      },
    );
    // A new instance opens a circuit that is open elsewhere.
    quietly(this.#read());
  }

  mayProbe(): boolean {
    const now = Date.now();
    if (this.#storeDown || this.#lockedUntil > now) return true;
    if (!this.#asking && now >= this.#nextAsk) {
      this.#nextAsk = now + askEvery;
      quietly(this.#ask(this.#options.openFor));
    }
    return false;
  }

  close(): void {
    for (const stop of this.#stop.splice(0)) stop();
  }

  /**
   * This instance opened the circuit: it takes the probe lock first (for the open time and a probe's), so that it is
   * the one that probes when the time is over, then keeps the state (until the circuit would half-open) and announces it.
   */
  async #opened(openFor: number): Promise<void> {
    const until = Date.now() + openFor;
    await this.#ask(openFor + this.#options.openFor);
    const text = JSON.stringify({ open: true, until, by: this.#owner });
    await this.#store.set(this.#stateKey, Buffer.from(text), openFor);
    await this.#store.publish(this.#stateKey, text);
  }

  /** This instance's probe succeeded: the circuit is closed everywhere. */
  async #closed(): Promise<void> {
    const text = JSON.stringify({ open: false, by: this.#owner });
    await this.#store.set(this.#stateKey, Buffer.from(text), 0);
    await this.#store.publish(this.#stateKey, text);
  }

  async #ask(ttl: number): Promise<void> {
    this.#asking = true;
    try {
      const held = await this.#store.lock(this.#lockKey, this.#owner, ttl);
      this.#lockedUntil = held ? Date.now() + ttl : 0;
    } finally {
      this.#asking = false;
    }
  }

  async #read(): Promise<void> {
    const stored = await this.#store.get(this.#stateKey);
    if (stored !== undefined) this.#heard(stored.toString('utf8'));
  }

  #heard(message: string): void {
    const state = parseState(message);
    if (state === undefined || state.by === this.#owner) return;
    if (state.open) this.#breaker.openElsewhere((state.until as number) - Date.now());
    else this.#breaker.closeElsewhere();
  }
}

/**
 * Shares `breaker`'s circuit for the target named `key` through `store`: an open circuit is kept and announced, so
 * every instance opens it until the same time, and while it is half-open only the instance that holds the probe lock
 * probes (pass {@link CircuitSharing.mayProbe} to `createBreaker()`). Requests never wait on the store.
 * @example
 * let sharing: CircuitSharing | undefined;
 * const breaker = createBreaker(options, undefined, () => sharing?.mayProbe() ?? true);
 * sharing = shareCircuit(breaker, store, 'http://10.0.0.1:4000/', resolveBreakerOptions(options));
 */
export function shareCircuit(
  breaker: CircuitBreaker,
  store: GatewayStore,
  key: string,
  options: ResolvedBreakerOptions,
): CircuitSharing {
  return new SharedCircuit(breaker, store, key, options);
}
