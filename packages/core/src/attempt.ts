import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { classify, clientWentAway } from './classify.js';
import type { Engine } from './engine.js';
import { failureOf, type GatewayFailure, receivedFailure, type Timings } from './failure.js';
import { responseHeaders, writeResponseHead } from './headers.js';
import type { TimeoutName } from './proxy-events.js';
import type { ResolvedTimeouts, UpstreamTarget } from './proxy-options.js';
import { abortResponse } from './respond.js';
import type { FailurePhase, FailureType } from './taxonomy.js';

/** How one attempt ended. Every outcome carries the attempt's timings. */
export type Outcome =
  /** The upstream's answer went to the client, complete. */
  | { readonly kind: 'answered'; readonly status: number; readonly timings: Timings }
  /** The client went away first. */
  | { readonly kind: 'aborted'; readonly phase: FailurePhase; readonly headSent: boolean; readonly timings: Timings }
  /** The upstream failed (or answered a 5xx we intercept). After the head, the client connection was aborted. */
  | {
      readonly kind: 'failed';
      readonly failure: GatewayFailure;
      readonly headSent: boolean;
      readonly timeout: TimeoutName | undefined;
      readonly timings: Timings;
    };

/** What an attempt needs besides the request. */
export interface AttemptSettings {
  readonly engine: Engine;
  readonly timeouts: ResolvedTimeouts;
  readonly intercept: (status: number) => boolean;
  readonly changeOrigin: boolean;
  /** Watches an upstream response once it streams to the client (the robots.txt keeper); it may only listen. */
  readonly observe?: ((req: IncomingMessage, proxyRes: IncomingMessage, target: UpstreamTarget) => void) | undefined;
}

/** One of our timers ran out. Kept as the failure's `cause`, so development diagnostics say which and how long. */
export class ProxyTimeoutError extends Error {
  /** Node's code for a timeout, so code-based tooling recognises it. */
  readonly code: 'ETIMEDOUT' = 'ETIMEDOUT';
  /** Which timer. */
  readonly timeout: TimeoutName;
  constructor(timeout: TimeoutName, ms: number, what: string) {
    super(`gateway-errors: ${what} within timeouts.${timeout} (${Math.round(ms)} ms)`);
    this.name = 'ProxyTimeoutError';
    this.timeout = timeout;
  }
}

/**
 * Where an attempt is: opening a connection (DNS, TCP, TLS), sending the request (its body may still be uploading),
 * waiting for the response head, or streaming the response body to the client.
 */
export type Step = 'connect' | 'send' | 'wait' | 'body';

export const phaseOf: Readonly<Record<Step, FailurePhase>> = {
  connect: 'connect',
  send: 'request',
  wait: 'response-head',
  body: 'response-body',
};

/**
 * The failure a timer means at a given step. The connect timer tells DNS from TCP from TLS by the socket events seen
 * so far (RFC 9209 §2.3.2 `dns_timeout`, §2.3.7 `connection_timeout`).
 */
export function timeoutFailure(
  step: Step,
  timeout: TimeoutName,
  ms: number,
  target: UpstreamTarget,
  timings: Timings,
): GatewayFailure {
  let type: FailureType = 'http_response_timeout';
  let phase: FailurePhase | undefined;
  let what = 'the upstream sent no response head';
  switch (step) {
    case 'connect':
      if (timings.connect !== undefined) {
        [type, phase, what] = ['connection_timeout', 'tls', 'the TLS handshake did not complete'];
      } else if (target.resolvesName && timings.dns === undefined) {
        [type, what] = ['dns_timeout', 'the upstream host name did not resolve'];
      } else {
        [type, what] = ['connection_timeout', 'the upstream did not accept the connection'];
      }
      break;
    case 'send':
      // Under the deadline a slow upload is still "no response in time"; under the response timer the upstream
      // provably stopped reading (see onTimer).
      if (timeout !== 'deadline') [type, what] = ['connection_write_timeout', 'the upstream stopped reading the body'];
      break;
    case 'body':
      [type, what] = ['connection_read_timeout', 'the upstream sent no body bytes'];
      break;
  }
  return failureOf(type, { code: 'ETIMEDOUT', phase, cause: new ProxyTimeoutError(timeout, ms, what) });
}

/**
 * Records DNS, TCP and TLS timings of the upstream request's connection and calls `connected` once it is ready for
 * the request: at once for a reused keep-alive connection, else after `connect` (and `secureConnect` for TLS).
 */
export function watchConnection(
  proxyReq: ClientRequest,
  target: UpstreamTarget,
  timings: Timings,
  started: number,
  connected: () => void,
): void {
  const watch = (socket: Socket) => {
    if (!socket.connecting) {
      connected();
      return;
    }
    if (target.resolvesName) {
      socket.once('lookup', () => {
        timings.dns = performance.now() - started;
      });
    }
    socket.once('connect', () => {
      timings.connect = performance.now() - started;
      if (!target.secure) connected();
    });
    if (target.secure) {
      socket.once('secureConnect', () => {
        timings.tls = performance.now() - started;
        connected();
      });
    }
  };
  if (proxyReq.socket) watch(proxyReq.socket as Socket);
  else proxyReq.once('socket', watch);
}

/**
 * Runs one attempt of `req` against `target` and streams the answer into `res`, with its own timers:
 * connect, then response (re-armed once the request is fully sent), then idle between body bytes; and the overall
 * deadline until the head. A failure before the head settles as `failed` with nothing written, so the caller can
 * retry or answer; after the head, the client connection is aborted (never an appended byte, never a clean end).
 */
export function runAttempt(
  settings: AttemptSettings,
  target: UpstreamTarget,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | undefined,
  deadlineAt: number,
): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const { timeouts } = settings;
    const started = performance.now();
    const timings: Timings = {};
    let step: Step = 'connect';
    let proxyReq: ClientRequest | undefined;
    let proxyRes: IncomingMessage | undefined;
    let done = false;
    let headSent = false;
    // Whether the upstream took request bytes since the timer last looked (it stops while a client uploads slowly).
    let drained = false;
    let timer: NodeJS.Timeout = setTimeout(onTimer, timeouts.connect);
    let timerMs = timeouts.connect;
    const deadline = Number.isFinite(deadlineAt)
      ? setTimeout(onDeadline, Math.max(0, deadlineAt - started))
      : undefined;

    function since(): number {
      return performance.now() - started;
    }
    function arm(ms: number): void {
      // Same length as the timer running (response and idle by default): restart it rather than make another.
      if (ms === timerMs) {
        timer.refresh();
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(onTimer, ms);
      timerMs = ms;
    }
    function settle(outcome: Outcome): void {
      done = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      res.off('close', onClientClose);
      timings.total = since();
      resolve(outcome);
    }
    function stopUpstream(): void {
      proxyReq?.destroy();
      proxyRes?.destroy();
    }
    function fail(failure: GatewayFailure, timeout: TimeoutName | undefined): void {
      if (done) return;
      settle({ kind: 'failed', failure: { ...failure, upstream: target.origin, timings }, headSent, timeout, timings });
      stopUpstream();
      if (headSent) abortResponse(res);
    }
    function onClientClose(): void {
      if (done) return;
      // 'close' follows 'finish' for every response: it is the one listener that tells both ends apart.
      if (headSent && res.writableFinished) {
        settle({ kind: 'answered', status: res.statusCode, timings });
        return;
      }
      settle({ kind: 'aborted', phase: phaseOf[step], headSent, timings });
      stopUpstream();
    }
    function onTimer(): void {
      if (done) return;
      if (step === 'send' && (drained || proxyReq?.writableNeedDrain !== true)) {
        // The upload is moving, or waiting for the client: not the upstream's fault. Look again later.
        drained = false;
        timer.refresh();
        return;
      }
      if (step === 'body' && res.writableNeedDrain) {
        // The client reads slowly and holds the upstream back: silence that is not the upstream's.
        timer.refresh();
        return;
      }
      const timeout: TimeoutName = step === 'connect' ? 'connect' : step === 'body' ? 'idle' : 'response';
      fail(timeoutFailure(step, timeout, timerMs, target, timings), timeout);
    }
    function onDeadline(): void {
      if (done || headSent) return;
      fail(timeoutFailure(step, 'deadline', deadlineAt - started, target, timings), 'deadline');
    }
    function onDrain(): void {
      drained = true;
    }
    function waitForHead(): void {
      if (done || step === 'wait' || step === 'body') return;
      proxyReq?.off('drain', onDrain);
      step = 'wait';
      arm(timeouts.response);
    }
    function connected(): void {
      if (done || step !== 'connect' || proxyReq === undefined) return;
      // The response timer starts once the request is sent; an upload in progress is watched for stalls meanwhile.
      if (proxyReq.writableEnded) {
        waitForHead();
        return;
      }
      step = 'send';
      arm(timeouts.response);
      proxyReq.on('drain', onDrain);
      proxyReq.once('finish', waitForHead);
    }
    // The body is relayed by hand rather than piped: the idle timer needs a 'data' listener anyway, and pipe() would
    // add six more listeners per response for what these few lines do.
    function onBodyData(chunk: Buffer): void {
      timer.refresh();
      if (!res.write(chunk)) {
        proxyRes?.pause();
        res.once('drain', onClientDrain);
      }
    }
    function onClientDrain(): void {
      proxyRes?.resume();
    }
    function onBodyClose(): void {
      if (done) return;
      if (proxyRes?.readableEnded !== true) {
        fail(failureOf('http_response_incomplete', { phase: 'response-body' }), undefined);
        return;
      }
      // Nothing more to wait for from the upstream; the client's reading is not ours to time.
      clearTimeout(timer);
      res.end();
    }
    function onBodyError(error: Error): void {
      fail(
        classify(error) ?? failureOf('http_response_incomplete', { cause: error, phase: 'response-body' }),
        undefined,
      );
    }

    res.on('close', onClientClose);
    settings.engine.web(
      req,
      { target, body, changeOrigin: settings.changeOrigin },
      {
        request(request) {
          if (done) {
            // Our connect timer beat the agent's queue: this request must not go out after all.
            request.destroy();
            return;
          }
          proxyReq = request;
          watchConnection(request, target, timings, started, () => {
            if (!done) connected();
          });
        },
        response(response) {
          if (done) {
            response.destroy();
            return;
          }
          proxyRes = response;
          clearTimeout(deadline);
          timings.firstByte = since();
          const status = response.statusCode ?? 502;
          if (settings.intercept(status)) {
            // Drained so the connection can serve another request; one that stalls is let go after `idle`.
            response.setTimeout(timeouts.idle, () => response.destroy());
            response.resume();
            settle({
              kind: 'failed',
              failure: receivedFailure(status, response.headers['retry-after'], response.headers.date, {
                upstream: target.origin,
                timings,
              }),
              headSent: false,
              timeout: undefined,
              timings,
            });
            return;
          }
          try {
            writeResponseHead(res, status, responseHeaders(response.headers));
          } catch (error) {
            // Node refuses to write what its parser accepted: a status below 100 (`HTTP/1.1 099`). Unhandled, this
            // throw would crash the process from inside the upstream socket's data handler; nothing went out yet.
            fail(failureOf('http_protocol_error', { cause: error }), undefined);
            return;
          }
          headSent = true;
          step = 'body';
          arm(timeouts.idle);
          response.on('data', onBodyData);
          response.on('error', onBodyError);
          // After 'end' (all of the body was read: the response ends) or after a failure. 'close' and 'finish'
          // happen once: plain listeners spare the once() wrappers.
          response.on('close', onBodyClose);
          settings.observe?.(req, response, target);
        },
        error(error) {
          if (done) return;
          if (clientWentAway(req)) {
            settle({ kind: 'aborted', phase: phaseOf[step], headSent, timings });
            stopUpstream();
            return;
          }
          fail(classify(error) ?? failureOf('connection_terminated', { cause: error }), undefined);
        },
      },
    );
  });
}
