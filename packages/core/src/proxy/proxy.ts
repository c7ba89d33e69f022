import { EventEmitter, once } from 'node:events';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants as http2Constants } from 'node:http2';
import type { Duplex } from 'node:stream';
import { clientWentAway } from '../failure/classify.js';
import { errorOf, type GatewayError } from '../failure/errors.js';
import { type GatewayFailure, isRetrySafe, type RetryCandidate, type Timings } from '../failure/failure.js';
import type { FailurePhase } from '../failure/taxonomy.js';
import { rejection, writeRejection } from '../node-http/reject.js';
import { requestIdOf } from '../node-http/request-id.js';
import {
  adoptHandshake,
  announcesBody,
  cameAsUpgrade,
  claimHandshake,
  type HandshakeSockets,
  isWebSocketUpgrade,
  markUpgradeListener,
  routeUpgrade,
  type UpgradeListener,
} from '../node-http/upgrade.js';
import { retryDelay, sleep } from '../resilience/backoff.js';
import { type Balancer, balancerOf, type Choice } from '../resilience/balancer.js';
import { copySource, type StandIn } from '../resilience/copies.js';
import { type Admission, type ConcurrencyLimiter, createLimiter } from '../resilience/limiter.js';
import { letThroughMaintenance } from '../resilience/maintenance.js';
import { createRetryBudget, type RetryBudget } from '../resilience/retry-budget.js';
import { createRobotsKeeper, type RobotsKeeper } from '../resilience/robots.js';
import { createStaleKeeper, type StaleKeeper } from '../resilience/stale.js';
import type { Target } from '../resilience/targets.js';
import type { AttemptOutcome } from '../resilience/verdict.js';
import type { RenderedError } from '../response/render.js';
import { defaultErrorResponder } from '../response/responder.js';
import { writeError } from '../response/write-error.js';
import { type AttemptSettings, type FinishedAttempt, runAttempt } from './attempt.js';
import { type DrainOptions, type DrainResult, drainingFailure, InFlight, resolveDrainOptions } from './drain.js';
import { createEngine } from './engine.js';
import { prepareRequestHeaders, supportedTransferCoding } from './headers.js';
import type { ClientStall, ProxyEvent, ProxyEvents, RejectReason } from './proxy-events.js';
import { type ProxyOptions, type ResolvedProxyOptions, resolveProxyOptions } from './proxy-options.js';
import { hasBody, noBody, prepareBody, type RequestBody } from './request-body.js';
import { leavesTargetPath } from './request-target.js';

/** Renders a failure for one request: `ErrorResponder.render` fits. */
export type FailureRenderer = (failure: GatewayFailure, req: IncomingMessage) => RenderedError;

/** The framework-free proxy: adapters call `forward` and render what it returns. */
export interface GatewayProxy extends EventEmitter<ProxyEvents> {
  /**
   * Forwards `req` and streams the answer into `res`. Resolves with an error to render when the request failed
   * before any response byte went out (an upstream failure after the retries, an open circuit, no healthy target,
   * the concurrency limit); with `undefined` when it was answered, when the client left (nothing is answered then)
   * or stalled for `timeouts.idle` (answered 408 before the head, its connection cut after),
   * when a failure after the head was handled by aborting the client connection, or when a kept copy answered the
   * failure (robots.txt's last good copy or fallback, a stale-if-error copy), or when it came over HTTP/2 (its stream is reset with HTTP_1_1_REQUIRED, and
   * browsers ask again over HTTP/1.1), or when the proxy refused it itself (a `reject` event; the answer, such as a
   * 400 for a path that would leave the target's, is written and the connection closed). Rejects only on a mounting mistake (a request body that earlier middleware
   * consumed: `ConsumedBodyError`).
   */
  forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined>;
  /**
   * The server's `upgrade` listener for a proxy that serves below an app (what the adapters' `middleware.upgrade`
   * is): `server.on('upgrade', proxy.routeUpgrade)`. Each WebSocket handshake is given to the server's own request
   * handler (your app) as a request, answered on its socket, so that routing, mount paths and middleware apply as to
   * any request: it is proxied only if the app routes it to this proxy's `forward()` (or another's), which then
   * tunnels it after the upstream's 101, or relays any other answer like a response. A handshake the app answers
   * itself gets that answer (its 404, 401, 503), then a close. When other `upgrade` listeners share the server, a
   * handshake the app does not route to a proxy is left to them instead, and the app's answer dropped. A handshake
   * that announces a body is answered 400 (a `reject` event, `upgrade-with-body`) and never given to the app.
   */
  readonly routeUpgrade: UpgradeListener;
  /**
   * Proxies a WebSocket handshake you chose for this proxy (from the server's `upgrade` event, or your own dispatcher
   * of them), whatever its path: like `forward()` of a request, with the same limits until the upstream's 101. A
   * failure before the upstream answered is answered on the socket with `render` (by default the default error
   * responder's: its status, Retry-After, Proxy-Status, Content-Length), then the connection is closed; so is any
   * answer but a 101. A handshake that is not a WebSocket one, or announces a body, is answered 400. Resolves once the
   * upstream answered, the failure was answered, or the client left. Never rejects: anything unexpected closes the
   * socket.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, render?: FailureRenderer): Promise<void>;
  /**
   * Drains the proxy for a deploy, and resolves once it is drained: the requests in flight finish (up to `deadline`,
   * which cuts the rest), each asked to close its client connection after its answer; from now on every new request
   * is answered 503 `proxy_internal_response` with `Connection: close` and the drain's Retry-After (a `failure` event,
   * attempt 0); the active health checks stop; every WebSocket tunnel is closed with 1001 (Going Away) at a frame
   * boundary, then its upstream connection; last, the idle upstream connections of the agent this proxy created are
   * closed. The proxy stays drained. Calling it again returns the same promise. Throws a configuration error on an
   * invalid option.
   * @example
   * process.once('SIGTERM', async () => {
   *   server.close(); // no new connections
   *   await proxy.drain({ deadline: 25_000 }); // then nothing is left: the process exits by itself
   * });
   */
  drain(options?: DrainOptions): Promise<DrainResult>;
  /**
   * Stops the active health checks, stops listening to the store (which stays open: close it yourself), and releases
   * the idle connections of the agent this proxy created (your own agent is left alone). For a graceful stop, see
   * `drain()`.
   */
  close(): void;
}

/** The request an event or a target choice is about. */
interface Subject {
  readonly req: IncomingMessage;
  readonly requestId: string;
  /** A WebSocket handshake. */
  readonly upgrade: boolean;
}

/** What every attempt of one forwarded request shares. */
interface Call extends Subject {
  readonly res: ServerResponse;
  /** A WebSocket handshake's client side, tunnelled after the upstream's 101. */
  readonly tunnel: HandshakeSockets | undefined;
  /**
   * Who keeps copies of this request's answers and stands in for its failures: robots.txt's keeper (a GET or HEAD of
   * /robots.txt), stale-if-error's (any other GET or HEAD, when it is on), or none.
   */
  readonly keeper: 'robots' | 'stale' | undefined;
  /** Aborts when the client goes away: ends a wait for a concurrency slot or before a retry. Made when needed. */
  leaving: ClientLeaving | undefined;
}

/**
 * What every attempt of one forwarded request shares once its body is prepared; as a `RetryCandidate`, its method and
 * whether a later attempt could send the same body (none, or buffered).
 */
interface Attempts extends RetryCandidate {
  readonly body: Buffer | undefined;
  /** `performance.now()` value after which no attempt starts and the current one ends. */
  readonly deadlineAt: number;
}

/** A failed attempt, as the events describe it. */
type FailedAttempt = Extract<FinishedAttempt, { kind: 'failed' }>;

/** How an attempt that was never sent ends, for the breaker and passive health: it says nothing of the upstream. */
const notSent: AttemptOutcome = Object.freeze({ kind: 'aborted' });

/** A signal that aborts when the client goes away before its answer is complete. */
interface ClientLeaving {
  readonly signal: AbortSignal;
  stop(): void;
}

function clientLeaving(req: IncomingMessage, res: ServerResponse): ClientLeaving {
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  if (clientWentAway(req)) controller.abort();
  else res.on('close', onClose);
  return { signal: controller.signal, stop: () => res.off('close', onClose) };
}

/** A gateway-local failure (no target, no slot) as the events describe it: nothing was attempted. */
function localFailure(failure: GatewayFailure): FailedAttempt {
  return { kind: 'failed', failure, headSent: false, timeout: undefined, timings: {}, stale: false };
}

/** A handshake that is not a WebSocket one (RFC 6455 §4.2.1): not one we proxy. */
const notAWebSocket: RenderedError = rejection(400, 'only WebSocket upgrades are proxied');
/** RFC 9110 §15.5.9: the request body stopped arriving before anything was answered (it stalled for `idle`). */
const bodyTimeout: RenderedError = rejection(408, 'the request body stopped arriving');

/** A request the proxy refuses to forward, and its answer. */
interface Refusal {
  readonly reason: RejectReason;
  readonly rendered: RenderedError;
}

const unsafePath: Refusal = {
  reason: 'unsafe-path',
  rendered: rejection(400, 'the path has a .. segment, as written or decoded'),
};
const unsupportedTransferCoding: Refusal = {
  reason: 'unsupported-transfer-coding',
  rendered: rejection(501, 'the only Transfer-Encoding accepted is chunked'),
};

const upgradeWithBody: Refusal = {
  reason: 'upgrade-with-body',
  rendered: rejection(400, 'a WebSocket handshake has no body'),
};

/**
 * Whether the proxy refuses `req` before forwarding it, and why: a request-target that would leave the target's path
 * (the rule of request-target.ts), or a transfer coding we cannot forward with its meaning (RFC 9112 §6.1).
 */
function refusalOf(req: IncomingMessage): Refusal | undefined {
  if (leavesTargetPath(req.url ?? '/')) return unsafePath;
  if (!supportedTransferCoding(req.headers)) return unsupportedTransferCoding;
  return undefined;
}

class UpstreamProxy extends EventEmitter<ProxyEvents> implements GatewayProxy {
  readonly #options: ResolvedProxyOptions;
  readonly #settings: AttemptSettings;
  /** For GET and HEAD /robots.txt: the upstream's 5xx and 429 are intercepted, good answers are kept. */
  readonly #robotsSettings: AttemptSettings | undefined;
  /** For GET and HEAD with stale-if-error: good answers are kept. */
  readonly #staleSettings: AttemptSettings | undefined;
  readonly #balancer: Balancer;
  /** The requests in flight, for a drain. */
  readonly #inFlight = new InFlight();
  /** What a draining proxy answers; undefined until `drain()`. */
  #drainFailure: GatewayFailure | undefined;
  #drained: Promise<DrainResult> | undefined;
  readonly #budget: RetryBudget | undefined;
  readonly #limiter: ConcurrencyLimiter | undefined;
  readonly #robots: RobotsKeeper | undefined;
  readonly #staleIfError: StaleKeeper | undefined;
  /** The `upstream` of events about no target in particular. */
  readonly #everyTarget: string;
  /** What copies are kept for: the targets, replicas of one site (see CopySource). */
  readonly #site: string;

  constructor(options: ProxyOptions) {
    super();
    const resolved = resolveProxyOptions(options);
    this.#options = resolved;
    this.#settings = Object.freeze({
      engine: createEngine(resolved.agent),
      timeouts: resolved.timeouts,
      intercept: resolved.intercept,
      changeOrigin: resolved.changeOrigin,
    });
    this.#everyTarget = resolved.targets.map((target) => target.origin).join(', ');
    this.#site = resolved.targets
      .map((target) => target.url.href)
      .sort()
      .join(' ');
    this.#budget = resolved.budget === false ? undefined : createRetryBudget(resolved.budget, resolved.clock);
    this.#limiter = resolved.concurrency === undefined ? undefined : createLimiter(resolved.concurrency);
    const robots =
      resolved.robots === false ? undefined : createRobotsKeeper(resolved.robots, { store: resolved.store });
    this.#robots = robots;
    this.#robotsSettings =
      robots === undefined
        ? undefined
        : Object.freeze({
            ...this.#settings,
            intercept: (status: number) => robots.replaces(status) || resolved.intercept(status),
            observe: (req: IncomingMessage, proxyRes: IncomingMessage) =>
              robots.observe(req, proxyRes, copySource(req, this.#site, resolved.changeOrigin)),
          });
    const stale =
      resolved.staleIfError === false ? undefined : createStaleKeeper(resolved.staleIfError, { store: resolved.store });
    this.#staleIfError = stale;
    this.#staleSettings =
      stale === undefined
        ? undefined
        : Object.freeze({
            ...this.#settings,
            observe: (req: IncomingMessage, proxyRes: IncomingMessage, headers: OutgoingHttpHeaders) =>
              stale.observe(req, proxyRes, headers, copySource(req, this.#site, resolved.changeOrigin)),
          });
    // Last: it may start health checks, and everything it needs was validated above.
    this.#balancer = balancerOf(resolved.targets, resolved.breaker, resolved.pool, {
      agent: resolved.agent,
      store: resolved.store,
      now: resolved.clock.now,
      random: resolved.clock.random,
    });
    this.#balancer.on('breaker', (change) => {
      const { target, ...state } = change;
      this.#publish('breaker', { upstream: target.origin, target: target.index, ...state });
    });
    this.#balancer.on('health', (change) => {
      const { target, healthy, source } = change;
      this.#publish('health', { upstream: target.origin, target: target.index, healthy, source });
    });
  }

  async forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined> {
    if (req.httpVersionMajor >= 2) {
      // The proxy serves HTTP/1.x: an HTTP/2 request's objects only look like HTTP/1's (its headers cannot be
      // replaced, its response refuses connection-specific fields). Its stream is reset with HTTP_1_1_REQUIRED
      // (RFC 9113 §7), on which browsers send the request again over HTTP/1.1 (a server with `allowHTTP1`).
      (req as unknown as { stream?: { close(code: number): void } }).stream?.close(
        http2Constants.NGHTTP2_HTTP_1_1_REQUIRED,
      );
      return undefined;
    }
    // A request that reaches a draining proxy is answered by the proxy itself (the drain's 503, or a kept copy): a
    // drain neither waits for it nor counts it, so `finished` and `cut` are of the requests in flight when it began.
    if (this.#drainFailure !== undefined) return this.#forward(req, res);
    // In flight until it settles, for a drain to wait for, or cut.
    this.#inFlight.add(res);
    try {
      return await this.#forward(req, res);
    } finally {
      this.#inFlight.delete(res);
    }
  }

  async #forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined> {
    const options = this.#options;
    const requestId = requestIdOf(req, options.trustRequestId);
    // A request Node handed to `upgrade` listeners (with no response, its body unread) that reached us through the
    // app: our routeUpgrade (then it is ours to answer on its socket), or another library that does the same.
    const upgrade = cameAsUpgrade(req);
    const handshake = upgrade ? claimHandshake(req, res) : undefined;
    // A handshake this proxy cannot claim is not its to answer: another `upgrade` listener took its socket (its
    // WebSocket may be open), another proxy claimed it, or its response is not the one it was routed with. Its `res`
    // writes nowhere, or on someone else's socket: sent on as a plain request, the upstream would be asked and its
    // answer written into that WebSocket, or dropped.
    if (upgrade && handshake === undefined) return undefined;
    // Any other upgrade is answered as a plain request (RFC 9110 §7.8: the Upgrade is ignored).
    const tunnel = handshake !== undefined && isWebSocketUpgrade(req) ? handshake : undefined;
    // Before anything is read, waited for or prepared: a refused request holds no slot and no body.
    const refusal = refusalOf(req) ?? (upgrade && announcesBody(req) ? upgradeWithBody : undefined);
    if (refusal !== undefined) {
      this.#emitReject({ req, requestId, upgrade: tunnel !== undefined }, refusal.rendered.status, refusal.reason);
      writeRejection(req, res, refusal.rendered);
      return undefined;
    }
    prepareRequestHeaders(req, requestId, { trustForwarded: options.trustForwarded, upgrade: tunnel !== undefined });
    const keeper = tunnel === undefined ? this.#keeperOf(req) : undefined;
    const call: Call = { req, res, requestId, upgrade: tunnel !== undefined, tunnel, keeper, leaving: undefined };
    if (this.#drainFailure !== undefined) return this.#whileDraining(call, this.#drainFailure);
    // Before a slot is taken: a client that stalls its body (held in memory: at most maxBufferedBody) never holds one.
    const prepared = hasBody(req) ? await this.#prepareBody(call) : noBody;
    if (prepared === undefined) return undefined;
    let admission: Admission | undefined;
    try {
      if (this.#limiter !== undefined) {
        call.leaving = clientLeaving(req, res);
        admission = await this.#limiter.acquire(call.leaving.signal);
        if (!admission.admitted) {
          if (call.leaving.signal.aborted || clientWentAway(req)) {
            this.#emitAbort(call, undefined, 0, 'request', false, {});
            return undefined;
          }
          return await this.#failed(call, undefined, 0, localFailure(admission.failure));
        }
      }
      return await this.#attempts(call, prepared);
    } finally {
      if (admission?.admitted) admission.release();
      call.leaving?.stop();
    }
  }

  /**
   * Decides how the body is sent, reading it when it is small enough to hold and either a retry could replay it or a
   * concurrency slot is to be taken. `undefined` when the request ended there: the client left, or stalled its body
   * (answered 408).
   */
  async #prepareBody(call: Call): Promise<RequestBody | undefined> {
    const { req, res } = call;
    const options = this.#options;
    const buffer = options.retries > 0 || this.#limiter !== undefined;
    const prepared = await prepareBody(req, options.maxBufferedBody, buffer, options.timeouts.idle);
    if (prepared === 'stalled') {
      writeRejection(req, res, bodyTimeout);
      this.#emitAbort(call, undefined, 0, 'request', false, {}, 'client-body');
      return undefined;
    }
    if (prepared === 'left') {
      this.#emitAbort(call, undefined, 0, 'request', false, {});
      return undefined;
    }
    return prepared;
  }

  /** Runs attempts until one is answered, the client leaves or stalls, or no retry follows. */
  async #attempts(call: Call, prepared: RequestBody): Promise<GatewayError | undefined> {
    const { req, res } = call;
    const options = this.#options;
    if (clientWentAway(req)) {
      this.#emitAbort(call, undefined, 0, 'request', false, {});
      return undefined;
    }
    this.#budget?.request();
    const attempts: Attempts = {
      body: prepared.body,
      method: req.method ?? 'GET',
      replayable: prepared.replayable,
      deadlineAt: performance.now() + options.timeouts.deadline,
    };
    const settings =
      call.keeper === 'robots'
        ? (this.#robotsSettings as AttemptSettings)
        : call.keeper === 'stale'
          ? (this.#staleSettings as AttemptSettings)
          : this.#settings;
    const tried = new Set<Target>();
    // Where the first attempt goes: a healthy target whose circuit admits it. None: fail fast, nothing attempted.
    let choice: Choice = this.#balancer.choose(tried);
    if (!choice.ok) {
      return this.#failed(call, undefined, 1, localFailure(choice.failure));
    }
    // The failure of the previous attempt, when this one is a retry.
    let reason: GatewayFailure | undefined;

    for (let attempt = 1; ; attempt++) {
      const target = choice.target;
      if (reason !== undefined) this.#emitRetry(call, target, attempt, reason, false);
      if (clientWentAway(req)) {
        choice.report(notSent);
        this.#emitAbort(call, target, attempt, 'request', false, {});
        return undefined;
      }
      tried.add(choice.target);
      let outcome = await runAttempt(settings, target, req, res, attempts.body, attempts.deadlineAt, call.tunnel);
      if (
        outcome.kind === 'failed' &&
        outcome.stale &&
        isRetrySafe(outcome.failure, attempts) &&
        !clientWentAway(req)
      ) {
        // The keep-alive race, lost: the upstream closed the reused connection before answering (runAttempt had the
        // pool's other idle connections to it closed too). Sent again at once, on a new connection, by the same rule
        // as a retry; but it is not one: the upstream did nothing wrong, so no backoff, no retry count, no budget,
        // and nothing for its breaker or health. Once per attempt: a second loss is a failure like any other.
        this.#emitRetry(call, target, attempt, outcome.failure, true);
        outcome = await runAttempt(settings, target, req, res, attempts.body, attempts.deadlineAt, call.tunnel);
      }
      // Reported before any event, so that a listener cannot keep the breaker from hearing of it.
      choice.report(outcome);
      if (outcome.kind === 'answered') {
        this.#emitResponse(call, target, attempt, outcome.status, outcome.timings);
        return undefined;
      }
      if (outcome.kind === 'aborted') {
        // A client that stalled its upload before anything was sent is answered; after the head it was cut.
        if (outcome.stalled !== undefined && !outcome.headSent) writeRejection(req, res, bodyTimeout);
        this.#emitAbort(call, target, attempt, outcome.phase, outcome.headSent, outcome.timings, outcome.stalled);
        return undefined;
      }
      const next = this.#nextAttempt(attempts, outcome, attempt, tried);
      if (next === undefined) return this.#failed(call, target, attempt, outcome);
      this.#emitFailure(call, target, attempt, outcome, true, false);
      if (next.wait > 0) {
        call.leaving ??= clientLeaving(req, res);
        if (!(await sleep(next.wait, call.leaving.signal))) {
          next.choice.report(notSent);
          this.#emitAbort(call, target, attempt + 1, 'request', false, {});
          return undefined;
        }
      }
      choice = next.choice;
      reason = outcome.failure;
    }
  }

  /**
   * Whether a failed attempt is tried again, where, and after how long; `undefined` when it is not, and the failure
   * is the answer.
   *
   * Never after a response byte went to the client, never past the retry count, and only when sending the request
   * again is safe: `isRetrySafe`, the one rule (a body that can be sent again, and an idempotent method unless the
   * upstream never got the request; RFC 9110 §9.2.2). An upstream that answered (an intercepted status) is asked again only
   * when it said when: a 503 or 429 with a Retry-After (RFC 9110 §10.2.3, RFC 6585 §4) short enough to wait out.
   * The wait (the backoff, or that Retry-After) must end before the deadline. Then a target must admit it (another
   * healthy one first: failover), and the retry budget is asked last, so that it counts only retries really sent.
   */
  #nextAttempt(
    attempts: Attempts,
    outcome: FailedAttempt,
    attempt: number,
    tried: ReadonlySet<Target>,
  ): { readonly choice: Extract<Choice, { ok: true }>; readonly wait: number } | undefined {
    const { failure } = outcome;
    // The deadline's timer can fire a fraction of a millisecond before performance.now() reaches it (timers keep
    // whole milliseconds of the loop's cached clock): the deadline ends the request whatever `remaining` says.
    if (outcome.headSent || outcome.timeout === 'deadline' || attempt > this.#options.retries) return undefined;
    if (!isRetrySafe(failure, attempts)) return undefined;
    let retryAfter: number | undefined;
    if (failure.receivedStatus !== undefined) {
      if (failure.receivedStatus !== 503 && failure.receivedStatus !== 429) return undefined;
      if (failure.retryAfter === undefined) return undefined;
      retryAfter = failure.retryAfter;
    }
    const remaining = attempts.deadlineAt - performance.now();
    const wait = retryDelay({ attempt, remaining, retryAfter }, this.#options.backoff, this.#options.clock.random);
    if (wait === undefined) return undefined;
    // No target admits a retry (this failure may just have opened the circuit): the retry is not taken, like any
    // other, and this request's own failure is its answer. Later requests fail fast.
    const choice = this.#balancer.choose(tried);
    if (!choice.ok) return undefined;
    if (this.#budget !== undefined && !this.#budget.tryRetry()) {
      // Released without counting: nothing was attempted (a half-open probe slot is freed).
      choice.report(notSent);
      return undefined;
    }
    return { choice, wait };
  }

  /**
   * Who keeps copies of `req`'s answers: robots.txt's keeper for GET and HEAD /robots.txt, else stale-if-error's for a
   * GET or HEAD, unless `maintenance()` let the request through (it checks the real state of a site closed on purpose).
   */
  #keeperOf(req: IncomingMessage): Call['keeper'] {
    if (this.#robots?.matches(req) === true) return 'robots';
    if (this.#staleIfError?.matches(req) === true && !letThroughMaintenance(req)) return 'stale';
    return undefined;
  }

  /**
   * Ends a request that failed: the failure event (saying whether a kept copy answers), then the answer. Before the
   * response head, that is the stand-in when there is one (for /robots.txt always: its last good copy or the
   * fallback, with 200, since crawlers read a 5xx robots.txt as "disallow everything"; a stale copy), else the error
   * to render. After the head, nothing: the client connection was aborted.
   */
  async #failed(
    call: Call,
    target: Target | undefined,
    attempt: number,
    outcome: FailedAttempt,
  ): Promise<GatewayError | undefined> {
    const standIn = outcome.headSent ? undefined : await this.#standIn(call, outcome.failure);
    this.#emitFailure(call, target, attempt, outcome, false, standIn?.copy === true);
    if (outcome.headSent || standIn?.write(call.req, call.res) === true) return undefined;
    return errorOf(outcome.failure);
  }

  /** What answers `call` in place of `failure`, if anything: see {@link #failed}. */
  async #standIn(call: Call, failure: GatewayFailure): Promise<StandIn | undefined> {
    const { req, keeper } = call;
    if (keeper === undefined) return undefined;
    const source = copySource(req, this.#site, this.#options.changeOrigin);
    if (keeper === 'robots') return (this.#robots as RobotsKeeper).standIn(req, source);
    return (this.#staleIfError as StaleKeeper).standIn(req, failure, source);
  }

  readonly routeUpgrade: UpgradeListener = markUpgradeListener((req, socket, head) => {
    routeUpgrade(req, socket, head, (res) => {
      writeRejection(req, res, upgradeWithBody.rendered);
      const subject: Subject = { req, requestId: requestIdOf(req, this.#options.trustRequestId), upgrade: true };
      // Inside the server's 'upgrade' event a throw is an uncaught exception, and any client can send such a
      // handshake: a listener that throws is ignored, as in upgrade() (the client has its answer already).
      try {
        this.#emitReject(subject, upgradeWithBody.rendered.status, upgradeWithBody.reason);
      } catch {}
    });
  });

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, render?: FailureRenderer): Promise<void> {
    // Called from a server's 'upgrade' event, where a rejection would go unhandled: anything unexpected (a listener
    // or a render hook that throws) closes the socket instead.
    return this.#upgrade(req, socket, head, render).catch(() => {
      socket.destroy();
    });
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, render?: FailureRenderer): Promise<void> {
    const res = adoptHandshake(req, socket, head);
    if (res === undefined) return;
    if (!isWebSocketUpgrade(req)) {
      writeRejection(req, res, notAWebSocket);
      const subject: Subject = { req, requestId: requestIdOf(req, this.#options.trustRequestId), upgrade: true };
      this.#emitReject(subject, notAWebSocket.status, 'not-a-websocket');
      return;
    }
    const error = await this.forward(req, res);
    if (error !== undefined) writeError(req, res, (render ?? defaultErrorResponder().render)(error.failure, req));
  }

  drain(options?: DrainOptions): Promise<DrainResult> {
    if (this.#drained !== undefined) return this.#drained;
    const { deadline, retryAfter } = resolveDrainOptions(options);
    this.#drainFailure = drainingFailure(retryAfter);
    this.#drained = this.#drain(deadline);
    return this.#drained;
  }

  async #drain(deadline: number): Promise<DrainResult> {
    const inFlight = this.#inFlight;
    const started = inFlight.size;
    this.#balancer.close();
    // An answer still to come asks its client to close the connection after it (RFC 9112 §9.6): the client's next
    // request then opens a connection, which the load balancer gives to another instance, instead of meeting our 503.
    inFlight.each((res) => {
      if (!res.headersSent) res.shouldKeepAlive = false;
    });
    const cut = new AbortController();
    const timer = setTimeout(() => cut.abort(), deadline);
    const engine = this.#settings.engine;
    engine.goAway(cut.signal);
    await Promise.race([inFlight.empty(), once(cut.signal, 'abort')]);
    const cutRequests = inFlight.size;
    if (cutRequests > 0) {
      // Destroying the client's connection ends each the way a client that leaves does (an `abort` event).
      inFlight.each((res) => res.destroy());
      await inFlight.empty();
    }
    const tunnels = await engine.tunnelsGone();
    clearTimeout(timer);
    if (this.#options.ownsAgent) this.#options.agent.destroy();
    return { requests: { finished: started - cutRequests, cut: cutRequests }, tunnels };
  }

  /**
   * The answer to a request that reaches a draining proxy, before anything of it is read: the drain's 503 (or what
   * stands in for a failure: /robots.txt's last good copy, a stale copy), and its connection closed after it.
   */
  async #whileDraining(call: Call, failure: GatewayFailure): Promise<GatewayError | undefined> {
    call.res.shouldKeepAlive = false;
    return this.#failed(call, undefined, 0, localFailure(failure));
  }

  close(): void {
    this.#balancer.close();
    if (this.#options.ownsAgent) this.#options.agent.destroy();
  }

  /**
   * Emits a breaker or health event. These are emitted from inside the balancer's bookkeeping (and from health
   * check timers), so a listener that throws must not unwind it: its error is rethrown on the next tick, as
   * `diagnostics_channel` does with a subscriber's, where it surfaces as an uncaught exception of its own.
   */
  #publish<Name extends 'breaker' | 'health'>(name: Name, ...args: ProxyEvents[Name]): void {
    if (this.listenerCount(name) === 0) return;
    try {
      (this.emit as (name: Name, ...args: ProxyEvents[Name]) => boolean)(name, ...args);
    } catch (error) {
      process.nextTick(() => {
        throw error;
      });
    }
  }

  // Events are built only when someone listens: the proxy path is hot, and most applications listen to few.

  #event(subject: Subject, target: Target | undefined, attempt: number, timings: Timings): ProxyEvent {
    const { req } = subject;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    return {
      requestId: subject.requestId,
      method: req.method ?? 'GET',
      path: query === -1 ? url : url.slice(0, query),
      upstream: target?.origin ?? this.#everyTarget,
      attempt,
      upgrade: subject.upgrade,
      timings,
    };
  }

  #emitFailure(
    subject: Subject,
    target: Target | undefined,
    attempt: number,
    outcome: FailedAttempt,
    willRetry: boolean,
    stale: boolean,
  ): void {
    if (this.listenerCount('failure') === 0) return;
    this.emit('failure', {
      ...this.#event(subject, target, attempt, outcome.timings),
      failure: outcome.failure,
      timeout: outcome.timeout,
      headSent: outcome.headSent,
      willRetry,
      stale,
    });
  }

  #emitRetry(
    subject: Subject,
    target: Target | undefined,
    attempt: number,
    failure: GatewayFailure,
    resend: boolean,
  ): void {
    if (this.listenerCount('retry') === 0) return;
    this.emit('retry', { ...this.#event(subject, target, attempt, {}), failure, resend });
  }

  #emitAbort(
    subject: Subject,
    target: Target | undefined,
    attempt: number,
    phase: FailurePhase,
    headSent: boolean,
    timings: Timings,
    stalled?: ClientStall,
  ): void {
    if (this.listenerCount('abort') === 0) return;
    this.emit('abort', {
      ...this.#event(subject, target, attempt, timings),
      status: stalled !== undefined && !headSent ? 408 : 499,
      phase,
      headSent,
      stalled,
    });
  }

  #emitReject(subject: Subject, status: number, reason: RejectReason): void {
    if (this.listenerCount('reject') === 0) return;
    this.emit('reject', { ...this.#event(subject, undefined, 0, {}), status, reason });
  }

  #emitResponse(subject: Subject, target: Target | undefined, attempt: number, status: number, timings: Timings): void {
    if (this.listenerCount('response') === 0) return;
    this.emit('response', { ...this.#event(subject, target, attempt, timings), status });
  }
}

/**
 * Creates the framework-free proxy. Adapters wrap it; use it directly with `node:http`.
 * @example
 * const proxy = createProxy({ target: 'http://127.0.0.1:4000' });
 * const errors = createErrorResponder();
 * const server = http.createServer(async (req, res) => {
 *   const error = await proxy.forward(req, res);
 *   if (error) errors.send(error.failure, req, res);
 * });
 * server.on('upgrade', proxy.routeUpgrade); // WebSocket handshakes go through the handler above
 */
export function createProxy(options: ProxyOptions): GatewayProxy {
  return new UpstreamProxy(options);
}
