import { EventEmitter } from 'node:events';
import { booleanOption, checkOptions, fraction, positiveNumber, statusList, wholeNumber } from '../config/checks.js';
import { configError } from '../config/config-error.js';
import { failureOf, type GatewayFailure } from '../failure/failure.js';
import { type Clock, type ResolvedClock, resolveClock } from './clock.js';
import { SlidingWindow } from './sliding-window.js';
import { type AttemptOutcome, verdictOf } from './verdict.js';

/**
 * A circuit breaker per upstream. While it is open, requests fail fast with 503 `destination_unavailable` and
 * Retry-After = the remaining open time, without touching the upstream. All durations in milliseconds.
 */
export interface BreakerOptions {
  /**
   * Consecutive failed attempts that open the circuit.
   * @default 5
   */
  consecutiveFailures?: number;
  /**
   * The share of failed attempts within `window` that opens the circuit, once `minimumRequests` were seen.
   * @default 0.5
   */
  failureRatio?: number;
  /**
   * The sliding window of the failure ratio.
   * @default 10000
   */
  window?: number;
  /**
   * Attempts the window must hold before the ratio is trusted (one failure out of one is not a trend).
   * @default 20
   */
  minimumRequests?: number;
  /**
   * How long the circuit stays open the first time. Each reopening before it closes again doubles it.
   * @default 5000
   */
  openFor?: number;
  /**
   * The longest open time, however often it reopened.
   * @default 60000
   */
  maxOpenFor?: number;
  /**
   * The share of the open time taken off at random, so that breakers that opened together do not probe together.
   * @default 0.2
   */
  jitter?: number;
  /**
   * Trial requests let through at once when the open time is over (half-open). When that many have succeeded the
   * circuit closes; the first that fails opens it again. Others still fail fast meanwhile.
   * @default 1
   */
  probes?: number;
  /**
   * Statuses of the upstream's own answers that count as failures. By default an answer, even a 500 or a 503, proves
   * the upstream is reachable and is not a failure; list statuses such as `[502, 503, 504]` to count them.
   * @default []
   */
  failureStatuses?: readonly number[];
  /**
   * Share open circuits with the other instances through the proxy's `store`: when this instance opens a target's
   * circuit, every instance opens it until the same time, and when the time is over a single instance (the one that
   * holds a lock in the store) sends the half-open probe, whose result closes or reopens the circuit everywhere. Off by
   * default, and for a reason: one instance's broken network would then open the circuit for all of them. While the
   * store is down, each breaker is on its own again.
   * @default false
   */
  shared?: boolean;
}

/** Validated breaker settings. */
export type ResolvedBreakerOptions = Readonly<Required<BreakerOptions>>;

/** The documented defaults. */
const defaultBreakerOptions: ResolvedBreakerOptions = Object.freeze({
  consecutiveFailures: 5,
  failureRatio: 0.5,
  window: 10000,
  minimumRequests: 20,
  openFor: 5000,
  maxOpenFor: 60000,
  jitter: 0.2,
  probes: 1,
  failureStatuses: Object.freeze([]) as readonly number[],
  shared: false,
});

/** Validates breaker options once, fills the defaults and freezes the result. */
export function resolveBreakerOptions(options: BreakerOptions = {}): ResolvedBreakerOptions {
  checkOptions(options, Object.keys(defaultBreakerOptions), 'gatewayProxy() breaker');
  const d = defaultBreakerOptions;
  const openFor = positiveNumber(options.openFor ?? d.openFor, 'breaker.openFor', '5000 (milliseconds)');
  const maxOpenFor = positiveNumber(options.maxOpenFor ?? d.maxOpenFor, 'breaker.maxOpenFor', '60000 (milliseconds)');
  if (maxOpenFor < openFor) {
    throw configError(
      'GATEWAY_ERRORS_CONFLICTING_OPTIONS',
      `breaker.maxOpenFor (${maxOpenFor}) is shorter than breaker.openFor (${openFor}); raise maxOpenFor.`,
      { kind: RangeError },
    );
  }
  return Object.freeze({
    consecutiveFailures: wholeNumber(
      options.consecutiveFailures ?? d.consecutiveFailures,
      'breaker.consecutiveFailures',
      1,
      10000,
    ),
    failureRatio: fraction(options.failureRatio ?? d.failureRatio, 'breaker.failureRatio', false),
    window: positiveNumber(options.window ?? d.window, 'breaker.window', '10000 (milliseconds)'),
    minimumRequests: wholeNumber(options.minimumRequests ?? d.minimumRequests, 'breaker.minimumRequests', 1, 1e6),
    openFor,
    maxOpenFor,
    jitter: fraction(options.jitter ?? d.jitter, 'breaker.jitter', true),
    probes: wholeNumber(options.probes ?? d.probes, 'breaker.probes', 1, 100),
    failureStatuses: statusList(options.failureStatuses ?? d.failureStatuses, 'breaker.failureStatuses', 500, 599),
    shared: booleanOption(options.shared, 'breaker.shared', d.shared),
  });
}

/** The three states of a circuit. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Why a circuit changed state. */
export type BreakerReason =
  | 'consecutive-failures'
  | 'failure-ratio'
  | 'probe-failed'
  | 'open-time-over'
  | 'probes-succeeded'
  /** Another instance opened or closed the circuit (`breaker.shared`). */
  | 'shared';

/** A state change, for logs and metrics. */
export interface BreakerStateChange {
  from: BreakerState;
  to: BreakerState;
  reason: BreakerReason;
  /** When `to` is `open`: how long it stays open, in milliseconds (jitter included). */
  openFor?: number;
}

/** Events of a breaker. */
export interface BreakerEvents {
  state: [BreakerStateChange];
}

/** Leave to send one attempt. Report how it ended exactly once; later reports are ignored. */
export interface BreakerPermit {
  /** Whether this attempt is a half-open trial. */
  readonly probe: boolean;
  /**
   * Reports how the attempt ended. A client abort, or a failure the gateway decided itself, releases the permit
   * without counting (a probe slot is freed for the next request).
   */
  report(outcome: AttemptOutcome): void;
}

/** One upstream's circuit breaker. No timers: time-driven changes happen at the first look after they are due. */
export interface CircuitBreaker extends EventEmitter<BreakerEvents> {
  /** The state now (moving from open to half-open if the open time is over). */
  readonly state: BreakerState;
  /** Asks to send an attempt: a permit, or `undefined` to fail fast with {@link rejection}. */
  tryAcquire(): BreakerPermit | undefined;
  /** Milliseconds until the circuit lets a probe through; 0 unless open. */
  remaining(): number;
  /** The failure to answer with while the circuit refuses: 503 destination_unavailable, Retry-After = remaining. */
  rejection(): GatewayFailure;
  /**
   * Another instance opened the circuit for `remaining` more milliseconds (`breaker.shared`): open it here until then
   * too (a `state` event with the reason `shared`), unless it is open longer already.
   */
  openElsewhere(remaining: number): void;
  /** Another instance's probe succeeded (`breaker.shared`): close the circuit here too. */
  closeElsewhere(): void;
}

class Breaker extends EventEmitter<BreakerEvents> implements CircuitBreaker {
  readonly #options: ResolvedBreakerOptions;
  readonly #clock: ResolvedClock;
  readonly #window: SlidingWindow<'success' | 'failure'>;
  #state: BreakerState = 'closed';
  /** Bumped at every change, so that a permit from an earlier state cannot move the current one. */
  #generation = 0;
  #consecutive = 0;
  /** Openings since the circuit last closed: the exponent of the open time. */
  #openings = 0;
  #openUntil = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  #halfOpenSince = 0;

  /** Whether this instance may send a half-open probe now: always, unless a shared circuit lets another one probe. */
  readonly #admitsProbe: () => boolean;

  constructor(options: ResolvedBreakerOptions, clock: ResolvedClock, admitsProbe: () => boolean) {
    super();
    this.#options = options;
    this.#clock = clock;
    this.#admitsProbe = admitsProbe;
    this.#window = new SlidingWindow(['success', 'failure'], options.window);
  }

  get state(): BreakerState {
    this.#advance(this.#clock.now());
    return this.#state;
  }

  tryAcquire(): BreakerPermit | undefined {
    const now = this.#clock.now();
    this.#advance(now);
    if (this.#state === 'open') return undefined;
    if (this.#state === 'half-open') {
      // A probe that never reports (a lost permit) must not hold the circuit half-open for ever.
      if (this.#probesInFlight >= this.#options.probes && now - this.#halfOpenSince > this.#options.maxOpenFor) {
        this.#probesInFlight = 0;
        this.#halfOpenSince = now;
      }
      if (this.#probesInFlight >= this.#options.probes || !this.#admitsProbe()) return undefined;
      this.#probesInFlight++;
      return this.#permit(true);
    }
    return this.#permit(false);
  }

  remaining(): number {
    const now = this.#clock.now();
    this.#advance(now);
    return this.#state === 'open' ? Math.max(0, this.#openUntil - now) : 0;
  }

  rejection(): GatewayFailure {
    return failureOf('destination_unavailable', { retryAfter: Math.max(1, Math.ceil(this.remaining() / 1000)) });
  }

  openElsewhere(remaining: number): void {
    if (!(remaining > 0)) return;
    const now = this.#clock.now();
    this.#advance(now);
    const until = now + Math.min(remaining, this.#options.maxOpenFor);
    if (this.#state === 'open') {
      this.#openUntil = Math.max(this.#openUntil, until);
      return;
    }
    this.#openUntil = until;
    this.#consecutive = 0;
    this.#window.clear();
    this.#change('open', 'shared', until - now);
  }

  closeElsewhere(): void {
    if (this.#state === 'closed') return;
    this.#openings = 0;
    this.#consecutive = 0;
    this.#window.clear();
    this.#change('closed', 'shared');
  }

  #permit(probe: boolean): BreakerPermit {
    const generation = this.#generation;
    let reported = false;
    return {
      probe,
      report: (outcome) => {
        if (reported) return;
        reported = true;
        this.#report(generation, probe, verdictOf(outcome, this.#options.failureStatuses));
      },
    };
  }

  #report(generation: number, probe: boolean, verdict: 'success' | 'failure' | 'neutral'): void {
    if (generation !== this.#generation) return;
    const now = this.#clock.now();
    if (probe) {
      this.#probesInFlight--;
      if (verdict === 'failure') this.#open(now, 'probe-failed');
      else if (verdict === 'success' && ++this.#probeSuccesses >= this.#options.probes) this.#close();
      return;
    }
    if (verdict === 'neutral') return;
    this.#window.add(verdict, now);
    if (verdict === 'success') {
      this.#consecutive = 0;
      return;
    }
    this.#consecutive++;
    if (this.#consecutive >= this.#options.consecutiveFailures) {
      this.#open(now, 'consecutive-failures');
      return;
    }
    const failures = this.#window.total('failure', now);
    const total = failures + this.#window.total('success', now);
    if (total >= this.#options.minimumRequests && failures / total >= this.#options.failureRatio) {
      this.#open(now, 'failure-ratio');
    }
  }

  #advance(now: number): void {
    if (this.#state !== 'open' || now < this.#openUntil) return;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#halfOpenSince = now;
    this.#change('half-open', 'open-time-over');
  }

  #open(now: number, reason: BreakerReason): void {
    const { openFor, maxOpenFor, jitter } = this.#options;
    this.#openings++;
    const ceiling = Math.min(maxOpenFor, openFor * 2 ** (this.#openings - 1));
    // Jitter only shortens the time, so maxOpenFor stays a true bound.
    const duration = ceiling * (1 - jitter * this.#clock.random());
    this.#openUntil = now + duration;
    this.#consecutive = 0;
    this.#window.clear();
    this.#change('open', reason, duration);
  }

  #close(): void {
    this.#openings = 0;
    this.#consecutive = 0;
    this.#window.clear();
    this.#change('closed', 'probes-succeeded');
  }

  #change(to: BreakerState, reason: BreakerReason, openFor?: number): void {
    const from = this.#state;
    this.#state = to;
    this.#generation++;
    if (this.listenerCount('state') === 0) return;
    this.emit('state', openFor === undefined ? { from, to, reason } : { from, to, reason, openFor });
  }
}

/**
 * Creates a circuit breaker for one upstream. `clock` is for tests; `admitsProbe` says whether this instance may send
 * a half-open probe now (a shared circuit lets one instance probe: see `shareCircuit()`).
 * @example
 * const breaker = createBreaker({ consecutiveFailures: 5 });
 * const permit = breaker.tryAcquire();
 * if (permit === undefined) return errorOf(breaker.rejection()); // 503, Retry-After = remaining open time
 * const outcome = await attempt();
 * permit.report(outcome); // { kind: 'answered', status } | { kind: 'failed', failure } | { kind: 'aborted' }
 */
export function createBreaker(
  options?: BreakerOptions,
  clock?: Clock,
  admitsProbe: () => boolean = () => true,
): CircuitBreaker {
  return new Breaker(resolveBreakerOptions(options), resolveClock(clock), admitsProbe);
}
