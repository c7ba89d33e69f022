import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type AttemptSettings, type Outcome, runAttempt } from './attempt.js';
import { clientWentAway } from './classify.js';
import { createEngine } from './engine.js';
import { errorOf, type GatewayError } from './errors.js';
import type { GatewayFailure, Timings } from './failure.js';
import { prepareRequestHeaders } from './headers.js';
import type { ProxyEvent, ProxyEvents, TimeoutName } from './proxy-events.js';
import {
  type ProxyOptions,
  type ResolvedProxyOptions,
  resolveProxyOptions,
  type UpstreamTarget,
} from './proxy-options.js';
import type { RenderedError } from './render.js';
import { hasBody, noBody, prepareBody } from './request-body.js';
import { requestIdOf } from './request-id.js';
import { defaultErrorResponder } from './responder.js';
import type { FailurePhase } from './taxonomy.js';
import { isWebSocketUpgrade, runUpgrade, writeSocketResponse } from './upgrade.js';

export type {
  ProxyAbortEvent,
  ProxyEvent,
  ProxyEvents,
  ProxyFailureEvent,
  ProxyResponseEvent,
  ProxyRetryEvent,
  TimeoutName,
} from './proxy-events.js';
export type {
  ProxyOptions,
  ResolvedProxyOptions,
  ResolvedTimeouts,
  RetryOptions,
  TimeoutOptions,
  UpstreamTarget,
  UpstreamTlsOptions,
} from './proxy-options.js';
export { resolveProxyOptions } from './proxy-options.js';

/** Renders a failure for one request: `ErrorResponder.render` fits. */
export type RenderFailure = (failure: GatewayFailure, req: IncomingMessage) => RenderedError;

/** The framework-free proxy: adapters call `forward` and render what it returns. */
export interface GatewayProxy extends EventEmitter<ProxyEvents> {
  /**
   * Forwards `req` and streams the answer into `res`. Resolves with an error to render when the request failed
   * before any response byte went out; with `undefined` when it was answered, when the client left (nothing is
   * answered then), or when a failure after the head was handled by aborting the client connection. Rejects only
   * on a mounting mistake (a request body that earlier middleware consumed: `ConsumedBodyError`).
   */
  forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined>;
  /**
   * Proxies a WebSocket upgrade (call it from the server's `upgrade` event). A failure before the upstream answered
   * is answered on the raw socket with an HTTP error (`render`, by default the default error responder's: its
   * status, Retry-After, Proxy-Status, Content-Length, `Connection: close`), then the socket is closed. Resolves
   * once the upstream answered, the failure was answered, or the client left.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, render?: RenderFailure): Promise<void>;
  /** Releases the idle connections of the agent this proxy created (your own agent is left alone). */
  close(): void;
}

/** RFC 9110 §9.2.2. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

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
  readonly body: Buffer | undefined;
  /** A later attempt could send the same body (none, or buffered). */
  readonly replayable: boolean;
  readonly idempotent: boolean;
  /** `performance.now()` value after which no attempt starts and the current one ends. */
  readonly deadlineAt: number;
}

/** Nothing was answered to this WebSocket handshake: it is not one we proxy (RFC 6455 §4.2.1). */
const notAWebSocket: RenderedError = {
  status: 400,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': '0', 'cache-control': 'no-store' },
  body: '',
};

class UpstreamProxy extends EventEmitter<ProxyEvents> implements GatewayProxy {
  readonly #options: ResolvedProxyOptions;
  readonly #settings: AttemptSettings;

  constructor(options: ProxyOptions) {
    super();
    this.#options = resolveProxyOptions(options);
    this.#settings = Object.freeze({
      engine: createEngine(),
      timeouts: this.#options.timeouts,
      intercept: this.#options.intercept,
      changeOrigin: this.#options.changeOrigin,
    });
  }

  async forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined> {
    const options = this.#options;
    const requestId = requestIdOf(req);
    prepareRequestHeaders(req, requestId, { trustForwarded: options.trustForwarded, upgrade: false });
    const idempotent = idempotentMethods.has(req.method ?? 'GET');
    // A body can only be replayed if we keep a copy: small ones are kept when a retry could use them.
    const prepared = hasBody(req) ? await prepareBody(req, options.maxBufferedBody, options.retries > 0) : noBody;
    if (prepared === undefined || clientWentAway(req)) {
      this.#emitAbort({ req, requestId, upgrade: false }, options.target, 0, 'request', false, {});
      return undefined;
    }
    const call: Call = {
      req,
      res,
      requestId,
      upgrade: false,
      body: prepared.body,
      replayable: prepared.replayable,
      idempotent,
      deadlineAt: performance.now() + options.timeouts.deadline,
    };

    for (let attempt = 1; ; attempt++) {
      // Where this attempt goes. (One target today; breakers, health and failover choose here.)
      const target = this.#chooseTarget(call, attempt);
      const outcome = await runAttempt(
        this.#settings,
        target,
        req,
        res,
        // The first attempt of a request without a kept body streams `req`; later ones send the empty body.
        call.body ?? (attempt > 1 ? Buffer.alloc(0) : undefined),
        call.deadlineAt,
      );
      // How it went, reported: the events (breakers and health checks are fed here too).
      if (outcome.kind === 'answered') {
        this.#emitResponse(call, target, attempt, outcome.status, outcome.timings);
        return undefined;
      }
      if (outcome.kind === 'aborted') {
        this.#emitAbort(call, target, attempt, outcome.phase, outcome.headSent, outcome.timings);
        return undefined;
      }
      // Whether another attempt follows.
      const willRetry = this.#mayRetry(call, outcome, attempt);
      this.#emitFailure(call, target, attempt, outcome, willRetry);
      if (!willRetry) return outcome.headSent ? undefined : errorOf(outcome.failure);
      this.#emitRetry(call, target, attempt + 1, outcome.failure);
    }
  }

  /** The upstream of this attempt. */
  #chooseTarget(_subject: Subject, _attempt: number): UpstreamTarget {
    return this.#options.target;
  }

  /**
   * Whether a failed attempt is tried again. Never after a response byte went to the client, never when the
   * upstream itself answered (an intercepted 5xx), never past the deadline or the retry count; and only when
   * repeating the request is safe: RFC 9110 §9.2.2, a request the upstream may have acted on is repeated only if
   * its method is idempotent, and only if its body can be sent again.
   */
  #mayRetry(call: Call, outcome: Extract<Outcome, { kind: 'failed' }>, attempt: number): boolean {
    const { failure } = outcome;
    if (outcome.headSent || failure.receivedStatus !== undefined) return false;
    if (attempt > this.#options.retries || performance.now() >= call.deadlineAt) return false;
    return call.replayable && (!failure.mayHaveReachedUpstream || call.idempotent);
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, render?: RenderFailure): Promise<void> {
    // Nothing on a raw socket may reach an unhandled 'error' event, before or after the engine takes it.
    socket.on('error', ignore);
    if (!isWebSocketUpgrade(req)) {
      writeSocketResponse(socket, notAWebSocket);
      return;
    }
    const subject: Subject = { req, requestId: requestIdOf(req), upgrade: true };
    const target = this.#chooseTarget(subject, 1);
    if (clientWentAway(req)) {
      this.#emitAbort(subject, target, 0, 'request', false, {});
      return;
    }
    prepareRequestHeaders(req, subject.requestId, { trustForwarded: this.#options.trustForwarded, upgrade: true });
    const renderer = render ?? defaultErrorResponder().render;
    const outcome = await runUpgrade(this.#settings, target, req, socket, head, (failure) => renderer(failure, req));
    if (outcome.kind === 'answered') {
      this.#emitResponse(subject, target, 1, outcome.status, outcome.timings);
    } else if (outcome.kind === 'aborted') {
      this.#emitAbort(subject, target, 1, outcome.phase, false, outcome.timings);
    } else {
      this.#emitFailure(subject, target, 1, { ...outcome, headSent: false }, false);
    }
  }

  close(): void {
    const { target } = this.#options;
    if (target.ownsAgent) target.agent.destroy();
  }

  // Events are built only when someone listens: the proxy path is hot, and most applications listen to few.

  #event(subject: Subject, target: UpstreamTarget, attempt: number, timings: Timings): ProxyEvent {
    const { req } = subject;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    return {
      requestId: subject.requestId,
      method: req.method ?? 'GET',
      path: query === -1 ? url : url.slice(0, query),
      upstream: target.origin,
      attempt,
      upgrade: subject.upgrade,
      timings,
    };
  }

  #emitFailure(
    subject: Subject,
    target: UpstreamTarget,
    attempt: number,
    outcome: { failure: GatewayFailure; headSent: boolean; timeout: TimeoutName | undefined; timings: Timings },
    willRetry: boolean,
  ): void {
    if (this.listenerCount('failure') === 0) return;
    this.emit('failure', {
      ...this.#event(subject, target, attempt, outcome.timings),
      failure: outcome.failure,
      timeout: outcome.timeout,
      headSent: outcome.headSent,
      willRetry,
    });
  }

  #emitRetry(subject: Subject, target: UpstreamTarget, attempt: number, failure: GatewayFailure): void {
    if (this.listenerCount('retry') === 0) return;
    this.emit('retry', { ...this.#event(subject, target, attempt, {}), failure });
  }

  #emitAbort(
    subject: Subject,
    target: UpstreamTarget,
    attempt: number,
    phase: FailurePhase,
    headSent: boolean,
    timings: Timings,
  ): void {
    if (this.listenerCount('abort') === 0) return;
    this.emit('abort', { ...this.#event(subject, target, attempt, timings), status: 499, phase, headSent });
  }

  #emitResponse(subject: Subject, target: UpstreamTarget, attempt: number, status: number, timings: Timings): void {
    if (this.listenerCount('response') === 0) return;
    this.emit('response', { ...this.#event(subject, target, attempt, timings), status });
  }
}

function ignore(): void {}

/**
 * Creates the framework-free proxy. Adapters wrap it; use it directly with `node:http`.
 * @example
 * const proxy = createProxy({ target: 'http://127.0.0.1:4000' });
 * const errors = createErrorResponder();
 * const server = http.createServer(async (req, res) => {
 *   const error = await proxy.forward(req, res);
 *   if (error) errors.send(error.failure, req, res);
 * });
 * server.on('upgrade', (req, socket, head) => proxy.upgrade(req, socket, head, errors.render));
 */
export function createProxy(options: ProxyOptions): GatewayProxy {
  return new UpstreamProxy(options);
}
