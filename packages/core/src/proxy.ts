import { EventEmitter } from 'node:events';
import { type ClientRequest, Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';
import { classify, clientWentAway } from './classify.js';
import { createEngine, type Engine } from './engine.js';
import { errorOf, type GatewayError } from './errors.js';
import { declaredFailure, failureOf, type GatewayFailure, type Timings } from './failure.js';
import { prepareRequestHeaders, responseHeaders } from './headers.js';
import { checkOptions } from './options.js';
import { requestIdOf } from './request-id.js';
import { abortResponse } from './respond.js';
import { parseRetryAfter } from './retry-after.js';
import type { FailureType } from './taxonomy.js';

/** Timeouts of one proxied request, in milliseconds. Each ends in its own failure. */
export interface TimeoutOptions {
  /**
   * DNS, TCP connect and TLS handshake. Ends in 504 `connection_timeout` (or `dns_timeout`).
   * @default 5000
   */
  connect?: number;
  /**
   * From the connection to the response head. Ends in 504 `http_response_timeout`.
   * @default 30000
   */
  response?: number;
  /**
   * The longest silence between two body bytes of the response. Ends in an aborted response
   * (`connection_read_timeout`), since the head already went to the client.
   * @default 30000
   */
  idle?: number;
  /**
   * An overall bound on the whole request, retries included.
   * @default undefined (no overall bound)
   */
  deadline?: number;
}

/** TLS towards the upstream. Certificates are verified unless you say otherwise. */
export interface UpstreamTlsOptions {
  /**
   * Trusted CA certificates (PEM), for an upstream behind a private CA.
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

/** Options of the proxy (`gatewayProxy()` in every adapter). Only `target` is required. */
export interface ProxyOptions {
  /** The upstream, such as `http://127.0.0.1:4000` or `https://api.internal/v1`. Its path is prefixed to every request's. */
  target: string | URL;
  /**
   * Timeouts in milliseconds.
   * @default { connect: 5000, response: 30000, idle: 30000 }
   */
  timeouts?: TimeoutOptions;
  /**
   * Send the target's host as Host (for upstreams that route by name) instead of the client's.
   * @default false
   */
  changeOrigin?: boolean;
  /**
   * Trust X-Forwarded-For/-Proto/-Host from the client and append to them (when this gateway is itself behind a
   * proxy you run). When off they are replaced, so a client cannot pose as another address.
   * @default false
   */
  trustForwarded?: boolean;
  /**
   * Render our own page instead of passing an upstream's 5xx through: `true` for every 5xx, or a list of statuses.
   * The upstream's Retry-After is kept (validated), and Proxy-Status says `received-status`.
   * @default false (the upstream's 5xx, its body and its Retry-After pass through)
   */
  intercept?: boolean | readonly number[];
  /**
   * TLS towards an https target.
   * @default { rejectUnauthorized: true }
   */
  tls?: UpstreamTlsOptions;
  /**
   * Your own agent. By default a keep-alive agent per proxy.
   * @default a keep-alive http(s).Agent
   */
  agent?: HttpAgent;
  /**
   * Retries of failed attempts that are safe to repeat: `{ retries }`, or `false` for none.
   * @default { retries: 1 }
   */
  retry?: false | RetryOptions;
}

/** Retry policy. */
export interface RetryOptions {
  /**
   * Attempts after the first.
   * @default 1
   */
  retries?: number;
  /**
   * Largest request body buffered so that it can be replayed; larger bodies are streamed and never retried.
   * @default 65536
   */
  maxBufferedBody?: number;
}

/** Everything an event says. Internal fields (`upstream`, `path`) are for logs and metrics, never for clients. */
export interface ProxyEvent {
  /** The request id (the X-Request-Id sent upstream and shown on the page). */
  requestId: string;
  method: string;
  /** The path forwarded to the upstream. */
  path: string;
  /** `protocol//host:port` of the upstream. */
  upstream: string;
  /** 1 for the first attempt. */
  attempt: number;
  timings: Timings;
}

/** A failed attempt. */
export interface ProxyFailureEvent extends ProxyEvent {
  failure: GatewayFailure;
  /** Whether the response head had already gone to the client (the connection was then aborted). */
  headSent: boolean;
  /** Whether another attempt follows. */
  willRetry: boolean;
}

/** The client went away before the answer was complete: logged as 499, never counted against the upstream. */
export interface ProxyAbortEvent extends ProxyEvent {
  status: 499;
}

/** Events of a proxy. */
export interface ProxyEvents {
  failure: [ProxyFailureEvent];
  abort: [ProxyAbortEvent];
}

/** The framework-free proxy: adapters call `forward` and render what it returns. */
export interface GatewayProxy extends EventEmitter<ProxyEvents> {
  /**
   * Forwards `req` and streams the answer into `res`. Resolves with an error to render when the request failed
   * before any response byte went out; with `undefined` when it was answered, when the client left, or when a
   * failure after the head was handled by aborting the connection.
   */
  forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined>;
  /** Proxies a WebSocket upgrade; a failure is answered on the raw socket with an HTTP error, then a close. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Releases the agent's idle connections. */
  close(): void;
}

const optionNames = ['target', 'timeouts', 'changeOrigin', 'trustForwarded', 'intercept', 'tls', 'agent', 'retry'];

/** RFC 9110 §9.2.2. */
const idempotentMethods = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

interface ResolvedProxyOptions {
  readonly target: URL;
  readonly upstream: string;
  readonly timeouts: Readonly<Required<Omit<TimeoutOptions, 'deadline'>>> & { readonly deadline: number };
  readonly changeOrigin: boolean;
  readonly trustForwarded: boolean;
  readonly intercept: (status: number) => boolean;
  readonly agent: HttpAgent;
  readonly retries: number;
  readonly maxBufferedBody: number;
}

function positiveMs(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`gateway-errors: ${name} must be a positive number of milliseconds, got ${String(value)}.`);
  }
  return value;
}

function resolveTarget(target: unknown): URL {
  let url: URL;
  try {
    url = target instanceof URL ? new URL(target.href) : new URL(String(target));
  } catch {
    throw new TypeError(
      `gateway-errors: target must be an absolute http(s) URL such as "http://127.0.0.1:4000", got ${JSON.stringify(target)}.`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`gateway-errors: target must use http: or https:, got ${url.protocol}`);
  }
  return url;
}

/** Validates the options once, fills the defaults, and freezes the result. */
export function resolveProxyOptions(options: ProxyOptions): ResolvedProxyOptions {
  checkOptions(options, optionNames, 'gatewayProxy()');
  if (options?.target === undefined) {
    throw new TypeError('gateway-errors: gatewayProxy() needs a target, such as { target: "http://127.0.0.1:4000" }.');
  }
  const target = resolveTarget(options.target);
  const timeouts = options.timeouts ?? {};
  checkOptions(timeouts, ['connect', 'response', 'idle', 'deadline'], 'gatewayProxy() timeouts');
  const retry = options.retry === false ? { retries: 0 } : (options.retry ?? {});
  checkOptions(retry, ['retries', 'maxBufferedBody'], 'gatewayProxy() retry');
  const retries = retry.retries ?? 1;
  if (!Number.isInteger(retries) || retries < 0 || retries > 10) {
    throw new TypeError(`gateway-errors: retry.retries must be a whole number from 0 to 10, got ${retries}.`);
  }
  const maxBufferedBody = retry.maxBufferedBody ?? 65536;
  if (!Number.isInteger(maxBufferedBody) || maxBufferedBody < 0) {
    throw new TypeError(
      `gateway-errors: retry.maxBufferedBody must be a whole number of bytes, got ${maxBufferedBody}.`,
    );
  }
  const intercept = options.intercept ?? false;
  if (
    typeof intercept !== 'boolean' &&
    !(Array.isArray(intercept) && intercept.every((s) => Number.isInteger(s) && s >= 500 && s <= 599))
  ) {
    throw new TypeError('gateway-errors: intercept must be true, false, or a list of 5xx statuses such as [502, 503].');
  }
  const tls = options.tls ?? {};
  checkOptions(tls, ['ca', 'rejectUnauthorized', 'servername'], 'gatewayProxy() tls');
  const agent =
    options.agent ??
    (target.protocol === 'https:'
      ? new HttpsAgent({
          keepAlive: true,
          scheduling: 'lifo',
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ca: tls.ca,
          servername: tls.servername,
        })
      : new HttpAgent({ keepAlive: true, scheduling: 'lifo' }));
  return Object.freeze({
    target,
    upstream: target.origin,
    timeouts: Object.freeze({
      connect: positiveMs(timeouts.connect ?? 5000, 'timeouts.connect'),
      response: positiveMs(timeouts.response ?? 30000, 'timeouts.response'),
      idle: positiveMs(timeouts.idle ?? 30000, 'timeouts.idle'),
      deadline:
        timeouts.deadline === undefined ? Number.POSITIVE_INFINITY : positiveMs(timeouts.deadline, 'timeouts.deadline'),
    }),
    changeOrigin: options.changeOrigin ?? false,
    trustForwarded: options.trustForwarded ?? false,
    intercept:
      intercept === true
        ? (status: number) => status >= 500
        : intercept === false
          ? () => false
          : (status: number) => intercept.includes(status),
    agent,
    retries,
    maxBufferedBody,
  });
}

/** How one attempt ended. */
type Outcome =
  | { kind: 'answered' }
  | { kind: 'aborted' }
  | { kind: 'failed'; failure: GatewayFailure; headSent: boolean };

/** Whether the request has a body to send: a non-zero Content-Length, or Transfer-Encoding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/** Reads the whole request body, or `undefined` if the client left on the way. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of req) chunks.push(chunk as Buffer);
  } catch {
    return undefined;
  }
  return Buffer.concat(chunks);
}

class UpstreamProxy extends EventEmitter<ProxyEvents> implements GatewayProxy {
  readonly #options: ResolvedProxyOptions;
  readonly #engine: Engine = createEngine();

  constructor(options: ProxyOptions) {
    super();
    this.#options = resolveProxyOptions(options);
  }

  async forward(req: IncomingMessage, res: ServerResponse): Promise<GatewayError | undefined> {
    const options = this.#options;
    const id = requestIdOf(req);
    prepareRequestHeaders(req, id, { trustForwarded: options.trustForwarded, upgrade: false });
    const deadlineAt = performance.now() + options.timeouts.deadline;

    // A body can only be replayed if we keep a copy; keep small ones, stream the rest (and never retry them).
    let body: Buffer | undefined;
    let replayable = !hasBody(req);
    if (!replayable && options.retries > 0) {
      const length = Number(req.headers['content-length']);
      if (Number.isInteger(length) && length <= options.maxBufferedBody) {
        body = await readBody(req);
        if (body === undefined || clientWentAway(req)) return this.#aborted(req, id, 0, {});
        replayable = true;
      }
    }
    const idempotent = idempotentMethods.has(req.method ?? 'GET');

    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#attempt(req, res, body ?? (attempt > 1 ? Buffer.alloc(0) : undefined), deadlineAt);
      if (outcome.kind === 'answered') return undefined;
      if (outcome.kind === 'aborted') return this.#aborted(req, id, attempt, {});
      const { failure, headSent } = outcome;
      // RFC 9110 §9.2.2: a request the upstream may have acted on is repeated only if repeating it is harmless.
      const safe = replayable && (!failure.mayHaveReachedUpstream || idempotent);
      const willRetry = !headSent && safe && attempt <= options.retries && performance.now() < deadlineAt;
      this.#emitFailure(req, id, attempt, failure, headSent, willRetry);
      if (!willRetry) return headSent ? undefined : errorOf(failure);
    }
  }

  #aborted(req: IncomingMessage, requestId: string, attempt: number, timings: Timings): undefined {
    if (this.listenerCount('abort') > 0) {
      this.emit('abort', { ...this.#eventBase(req, requestId, attempt, timings), status: 499 });
    }
    return undefined;
  }

  #emitFailure(
    req: IncomingMessage,
    requestId: string,
    attempt: number,
    failure: GatewayFailure,
    headSent: boolean,
    willRetry: boolean,
  ): void {
    if (this.listenerCount('failure') === 0) return;
    this.emit('failure', {
      ...this.#eventBase(req, requestId, attempt, failure.timings ?? {}),
      failure,
      headSent,
      willRetry,
    });
  }

  #eventBase(req: IncomingMessage, requestId: string, attempt: number, timings: Timings): ProxyEvent {
    return {
      requestId,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      upstream: this.#options.upstream,
      attempt,
      timings,
    };
  }

  /** One attempt against the upstream, with its own timers. */
  #attempt(req: IncomingMessage, res: ServerResponse, body: Buffer | undefined, deadlineAt: number): Promise<Outcome> {
    const options = this.#options;
    const { timeouts, upstream } = options;
    return new Promise<Outcome>((resolve) => {
      const started = performance.now();
      const timings: Timings = {};
      const since = () => performance.now() - started;
      let proxyReq: ClientRequest | undefined;
      let proxyRes: IncomingMessage | undefined;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      let headSent = false;

      const settle = (outcome: Outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        res.off('close', onClientClose);
        timings.total = since();
        resolve(outcome);
      };
      const fail = (failure: GatewayFailure) => {
        if (done) return;
        proxyReq?.destroy();
        proxyRes?.destroy();
        if (headSent) abortResponse(res);
        settle({ kind: 'failed', failure: { ...failure, upstream, timings }, headSent });
      };
      // One timer per attempt, re-armed as the exchange moves on; the overall deadline caps each step.
      const arm = (ms: number, type: FailureType) => {
        clearTimeout(timer);
        const wait = Math.max(0, Math.min(ms, deadlineAt - performance.now()));
        timer = setTimeout(() => {
          const phase =
            type === 'connection_timeout' && proxyReq?.socket && !proxyReq.socket.connecting ? 'tls' : undefined;
          fail(failureOf(type, { code: 'ETIMEDOUT', phase }));
        }, wait);
      };
      const onClientClose = () => {
        if (res.writableFinished) return;
        proxyReq?.destroy();
        proxyRes?.destroy();
        settle({ kind: 'aborted' });
      };
      res.on('close', onClientClose);
      arm(timeouts.connect, 'connection_timeout');

      this.#engine.web(
        req,
        res,
        { target: options.target, agent: options.agent, body, changeOrigin: options.changeOrigin },
        {
          request(request) {
            proxyReq = request;
            const socket = request.socket;
            if (socket === null || !socket.connecting) {
              arm(timeouts.response, 'http_response_timeout');
              return;
            }
            const secure = options.target.protocol === 'https:';
            socket.once('lookup', () => {
              timings.dns = since();
            });
            socket.once('connect', () => {
              timings.connect = since();
              if (!secure) arm(timeouts.response, 'http_response_timeout');
            });
            if (secure) {
              socket.once('secureConnect', () => {
                timings.tls = since();
                arm(timeouts.response, 'http_response_timeout');
              });
            }
          },
          response(response) {
            if (done) {
              response.destroy();
              return;
            }
            proxyRes = response;
            timings.firstByte = since();
            const status = response.statusCode ?? 502;
            const retryAfter = response.headers['retry-after'];
            if (options.intercept(status)) {
              response.resume();
              clearTimeout(timer);
              settle({
                kind: 'failed',
                failure: {
                  ...declaredFailure(status, {
                    receivedStatus: status,
                    phase: 'response-head',
                    retryAfter: parseRetryAfter(retryAfter, response.headers.date),
                  }),
                  upstream,
                  timings,
                },
                headSent: false,
              });
              return;
            }
            const headers = responseHeaders(response.headers);
            if (retryAfter !== undefined) {
              // Never copied blindly: a valid value is passed on as seconds, anything else is dropped.
              const seconds = parseRetryAfter(retryAfter, response.headers.date);
              if (seconds === undefined) delete headers['retry-after'];
              else headers['retry-after'] = String(seconds);
            }
            res.writeHead(status, response.statusMessage, headers);
            headSent = true;
            arm(timeouts.idle, 'connection_read_timeout');
            const idleTimer = timer;
            response.on('data', () => idleTimer?.refresh());
            response.on('error', (error) => {
              fail(classify(error) ?? failureOf('http_response_incomplete', { cause: error, phase: 'response-body' }));
            });
            response.on('close', () => {
              if (!response.complete) fail(failureOf('http_response_incomplete', { phase: 'response-body' }));
            });
            res.once('finish', () => settle({ kind: 'answered' }));
            response.pipe(res);
          },
          error(error) {
            if (done) return;
            if (clientWentAway(req)) {
              settle({ kind: 'aborted' });
              return;
            }
            fail(classify(error) ?? failureOf('connection_terminated', { cause: error }));
          },
        },
      );
    });
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    this.#engine.ws(
      req,
      socket,
      head,
      { target: this.#options.target, agent: undefined, body: undefined, changeOrigin: this.#options.changeOrigin },
      (error) => {
        const failure = classify(error) ?? failureOf('http_upgrade_failed', { cause: error });
        if (!socket.writable) {
          socket.destroy();
          return;
        }
        socket.end(
          `HTTP/1.1 ${failure.status} ${failure.status === 504 ? 'Gateway Timeout' : 'Bad Gateway'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
        );
      },
    );
  }

  close(): void {
    this.#options.agent.destroy();
  }
}

/**
 * Creates the framework-free proxy. Adapters wrap it; use it directly with `node:http`.
 * @example
 * const proxy = createProxy({ target: 'http://127.0.0.1:4000' });
 * const errors = createErrorResponder();
 * http.createServer(async (req, res) => {
 *   const error = await proxy.forward(req, res);
 *   if (error) errors.send(error.failure, req, res);
 * });
 */
export function createProxy(options: ProxyOptions): GatewayProxy {
  return new UpstreamProxy(options);
}
