import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { classify, clientWentAway } from '../failure/classify.js';
import { failureOf, type GatewayFailure, receivedFailure, type Timings } from '../failure/failure.js';
import type { FailurePhase, FailureType } from '../failure/taxonomy.js';
import type { HandshakeSockets } from '../node-http/upgrade.js';
import type { Target } from '../resilience/targets.js';
import { abortResponse } from '../response/write-error.js';
import { relayEarlyHints } from './early-hints.js';
import type { Engine } from './engine.js';
import { responseHeaders, writeResponseHead } from './headers.js';
import type { ClientStall, TimeoutName } from './proxy-events.js';
import type { ResolvedTimeouts } from './proxy-options.js';

/**
 * How one attempt ended: an `AttemptOutcome` (what the breaker and passive health read) with what the events report.
 * Every one carries the attempt's timings.
 */
export type FinishedAttempt =
  /** The upstream's answer went to the client, complete; or, for a WebSocket handshake, its 101 did (a tunnel). */
  | { readonly kind: 'answered'; readonly status: number; readonly timings: Timings }
  /**
   * The client went away first, or stalled: it sent no body bytes, or took no response bytes, for `timeouts.idle`.
   * After the head, a stalled client's connection was cut; before it, answering (408) is the caller's.
   */
  | {
      readonly kind: 'aborted';
      readonly phase: FailurePhase;
      readonly headSent: boolean;
      readonly stalled: ClientStall | undefined;
      readonly timings: Timings;
    }
  /** The upstream failed (or answered a 5xx we intercept). After the head, the client connection was aborted. */
  | {
      readonly kind: 'failed';
      readonly failure: GatewayFailure;
      readonly headSent: boolean;
      readonly timeout: TimeoutName | undefined;
      readonly timings: Timings;
      /**
       * The keep-alive race: the attempt went out on a reused connection, which closed (a FIN or a RST) before any
       * byte of an answer arrived. The upstream closed it, likely for being idle, perhaps after reading the request;
       * a new connection may well succeed. The pool's other idle connections to that upstream were closed too.
       */
      readonly stale: boolean;
    };

/** What an attempt needs besides the request. */
export interface AttemptSettings {
  readonly engine: Engine;
  readonly timeouts: ResolvedTimeouts;
  readonly intercept: (status: number) => boolean;
  readonly changeOrigin: boolean;
  /**
   * Watches an upstream response once it streams to the client with `headers` (to keep a copy: robots.txt,
   * stale-if-error); it may only listen.
   */
  readonly observe?:
    | ((req: IncomingMessage, proxyRes: IncomingMessage, headers: OutgoingHttpHeaders) => void)
    | undefined;
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

const unsolicitedSwitch =
  'gateway-errors: the upstream switched protocols (101) though the request asked for no upgrade';

/**
 * Where an attempt is: opening a connection (DNS, TCP, TLS), sending the request (its body may still be uploading),
 * waiting for the response head, or streaming the response body to the client.
 */
type Step = 'connect' | 'send' | 'wait' | 'body';

const phaseOf: Readonly<Record<Step, FailurePhase>> = {
  connect: 'connect',
  send: 'request',
  wait: 'response-head',
  body: 'response-body',
};

/**
 * The failure a timer means at a given step. The connect timer tells DNS from TCP from TLS by the socket events seen
 * so far (RFC 9209 §2.3.2 `dns_timeout`, §2.3.7 `connection_timeout`).
 */
function timeoutFailure(
  step: Step,
  timeout: TimeoutName,
  ms: number,
  target: Target,
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
 * `reused` is called first for a reused connection, with it.
 */
function watchConnection(
  proxyReq: ClientRequest,
  target: Target,
  timings: Timings,
  started: number,
  connected: () => void,
  reused: (socket: Socket) => void,
): void {
  const watch = (socket: Socket) => {
    if (!socket.connecting) {
      if (proxyReq.reusedSocket) reused(socket);
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
 * Runs one attempt of `req` against `target` and streams the answer into `res`, under one timer that measures the
 * silence of the side the exchange waits on (see `waitingOn`), and the overall deadline until the head. A failure
 * before the head settles as `failed` with nothing written, so the caller can retry or answer; after the head, the
 * client connection is aborted (never an appended byte, never a clean end). A client that stalls settles as
 * `aborted` with `stalled` set: never counted against the upstream.
 * A WebSocket handshake (`upgrade`) is an attempt like any other until the upstream's 101, which ends it: the engine
 * tunnels the sockets from then on, untimed.
 */
export function runAttempt(
  settings: AttemptSettings,
  target: Target,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer | undefined,
  deadlineAt: number,
  upgrade?: HandshakeSockets,
): Promise<FinishedAttempt> {
  return new Promise<FinishedAttempt>((resolve) => {
    const { timeouts } = settings;
    const started = performance.now();
    const timings: Timings = {};
    let step: Step = 'connect';
    let proxyReq: ClientRequest | undefined;
    let proxyRes: IncomingMessage | undefined;
    let done = false;
    let headSent = false;
    /** On a reused connection: the bytes it had read before this attempt, to tell whether any of an answer came. */
    let readBefore: number | undefined;
    // The body is streamed from `req` (not held in memory): an upload the client may stall.
    const uploading = body === undefined;
    // When each side last moved, for the timer (see waitingOn). Timestamps rather than a timer restarted per chunk:
    // the timer looks at them only when it fires.
    let stepAt = started;
    /** The upstream's last response body bytes, or when we began reading it again after the client drained. */
    let upstreamAt = started;
    /** The client's last request body bytes, or the upstream's last drain of them (our reading resumed). */
    let uploadAt = started;
    /** When we began waiting for the client to take what we wrote, or the last chunk it took since. */
    let clientAt = started;
    /** Our writes to the client are blocked (the upstream is paused), or all is written and not yet taken. */
    let waitingOnClient = false;
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
    function settle(outcome: FinishedAttempt): void {
      done = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      res.off('close', onClientClose);
      if (uploading) {
        req.off('data', onUpload);
        if (!req.complete) dropRestOfUpload();
      }
      timings.total = since();
      resolve(outcome);
    }
    /**
     * The exchange ended before the client's body did: the upstream answered early (a 413 or 417 before reading it),
     * failed or reset it. The upstream request stops (its connection is mid-body: it must never be reused) and the
     * rest of the body is read and dropped, as Node does with a body nobody reads. Left paused, it would hold the
     * client's connection with its next request unread behind it; closing instead risks a reset that destroys the
     * answer before the client read it (RFC 9112 §9.6).
     */
    function dropRestOfUpload(): void {
      if (proxyReq !== undefined) {
        req.unpipe(proxyReq);
        proxyReq.destroy();
      }
      req.resume();
    }
    function stopUpstream(): void {
      proxyReq?.destroy();
      proxyRes?.destroy();
    }
    function fail(failure: GatewayFailure, timeout: TimeoutName | undefined, stale = false): void {
      if (done) return;
      settle({
        kind: 'failed',
        failure: { ...failure, upstream: target.origin, timings },
        headSent,
        timeout,
        timings,
        stale,
      });
      stopUpstream();
      if (headSent) abortResponse(res);
    }
    /**
     * Whether an error means the keep-alive race was lost: the attempt's connection was a reused one, and it closed
     * (a FIN, a RST, a failed write) before a single byte of an answer, interim ones included, came back on it. Then
     * the pool's other idle connections to that upstream are closed as well: with LIFO scheduling this one was the
     * most recently used, so they have been idle longer, and are at least as likely to be closed by now.
     */
    function lostRace(failure: GatewayFailure): boolean {
      const socket = proxyReq?.socket;
      if (readBefore === undefined || socket == null || socket.bytesRead !== readBefore) return false;
      if (failure.type !== 'connection_terminated') return false;
      settings.engine.closeIdle(socket);
      return true;
    }
    function onClientClose(): void {
      if (done) return;
      // 'close' follows 'finish' for every response: it is the one listener that tells both ends apart.
      if (headSent && res.writableFinished) {
        settle({ kind: 'answered', status: res.statusCode, timings });
        return;
      }
      settle({ kind: 'aborted', phase: phaseOf[step], headSent, stalled: undefined, timings });
      stopUpstream();
    }
    function clientStalled(stalled: ClientStall): void {
      settle({ kind: 'aborted', phase: phaseOf[step], headSent, stalled, timings });
      stopUpstream();
      // After the head the status is out: the client finds its answer cut. Before it, the caller answers 408.
      if (headSent) abortResponse(res);
    }
    /**
     * The timer's one rule: it measures the silence of the side the exchange waits on, and `[side, since, limit]`
     * says which, since when, for how long. The upstream while it connects, reads an upload we are blocked on,
     * prepares its head, or owes body bytes; the client while its upload is expected (not held back by us), or while
     * it has not taken what we wrote (nginx's client_body_timeout and send_timeout). A client is never forgiven for
     * being slow on a side we do not wait on, and no side is blamed for the other's silence.
     */
    function waitingOn(): [side: ClientStall | 'upstream', since: number, limit: number] {
      const blocked = proxyReq?.writableNeedDrain === true;
      switch (step) {
        case 'connect':
          return ['upstream', stepAt, timeouts.connect];
        case 'send':
          return blocked ? ['upstream', uploadAt, timeouts.response] : ['client-body', uploadAt, timeouts.idle];
        case 'wait':
          return ['upstream', stepAt, timeouts.response];
        case 'body':
          if (waitingOnClient) return ['client-read', clientAt, timeouts.idle];
          // An upstream that answered early may wait for the rest of the upload: the client's silence comes first.
          if (uploading && !req.complete && !blocked) return ['client-body', uploadAt, timeouts.idle];
          return ['upstream', upstreamAt, timeouts.idle];
      }
    }
    function onTimer(): void {
      if (done) return;
      const [side, since, limit] = waitingOn();
      const silence = performance.now() - since;
      if (silence < limit) {
        // That side moved since the timer was set (or the timer ran a fraction early): wait out the rest.
        arm(limit - silence);
        return;
      }
      if (side !== 'upstream') {
        clientStalled(side);
        return;
      }
      const timeout: TimeoutName = step === 'connect' ? 'connect' : step === 'body' ? 'idle' : 'response';
      fail(timeoutFailure(step, timeout, limit, target, timings), timeout);
    }
    function onDeadline(): void {
      if (done || headSent) return;
      fail(timeoutFailure(step, 'deadline', deadlineAt - started, target, timings), 'deadline');
    }
    /** The upload moved: the client sent body bytes, or the upstream took ours (and our reading resumes). */
    function onUpload(): void {
      uploadAt = performance.now();
    }
    function waitForHead(): void {
      if (done || step === 'wait' || step === 'body') return;
      proxyReq?.off('drain', onUpload);
      step = 'wait';
      stepAt = performance.now();
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
      uploadAt = performance.now();
      arm(Math.min(timeouts.response, timeouts.idle));
      proxyReq.on('drain', onUpload);
      proxyReq.once('finish', waitForHead);
    }
    // The body is relayed by hand rather than piped: the timer needs to see both sides move, and pipe() would add six
    // more listeners per response for what these few lines do.
    function onBodyData(chunk: Buffer): void {
      upstreamAt = performance.now();
      if (!res.write(chunk, onClientTook)) {
        // Until the client takes it, we wait on the client.
        waitingOnClient = true;
        clientAt = upstreamAt;
        proxyRes?.pause();
        res.once('drain', onClientDrain);
      }
    }
    /** A chunk reached the client's socket (the kernel accepted it): the client's progress while we wait on it. */
    function onClientTook(): void {
      if (waitingOnClient) clientAt = performance.now();
    }
    function onClientDrain(): void {
      waitingOnClient = false;
      // The upstream's silence counts from the moment we read it again.
      upstreamAt = performance.now();
      proxyRes?.resume();
    }
    function onBodyClose(): void {
      if (done) return;
      if (proxyRes?.readableEnded !== true) {
        fail(failureOf('http_response_incomplete', { phase: 'response-body' }), undefined);
        return;
      }
      // Nothing more to wait for from the upstream; the client still has to take the last bytes ('close' settles).
      waitingOnClient = true;
      clientAt = performance.now();
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
      { target, body, changeOrigin: settings.changeOrigin, upgrade, idle: timeouts.idle },
      {
        request(request) {
          if (done) {
            // Our connect timer beat the agent's queue: this request must not go out after all.
            request.destroy();
            return;
          }
          proxyReq = request;
          watchConnection(
            request,
            target,
            timings,
            started,
            () => {
              if (!done) connected();
            },
            (socket) => {
              readBefore = socket.bytesRead;
            },
          );
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
          if (status === 101) {
            // Node passes every other 1xx as `information`, and a handshake's 101 to `upgrade`: this is a switch to a
            // protocol the client never asked for (RFC 9110 §15.2.2). Its connection speaks something else now.
            fail(failureOf('http_protocol_error', { cause: new Error(unsolicitedSwitch) }), undefined);
            return;
          }
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
              stale: false,
            });
            return;
          }
          const headers = responseHeaders(response.headers);
          try {
            writeResponseHead(res, status, headers);
          } catch (error) {
            // Node refuses to write what its parser accepted: a status below 100 (`HTTP/1.1 099`). Unhandled, this
            // throw would crash the process from inside the upstream socket's data handler; nothing went out yet.
            fail(failureOf('http_protocol_error', { cause: error }), undefined);
            return;
          }
          headSent = true;
          step = 'body';
          upstreamAt = performance.now();
          arm(timeouts.idle);
          response.on('data', onBodyData);
          response.on('error', onBodyError);
          // After 'end' (all of the body was read: the response ends) or after a failure. 'close' and 'finish'
          // happen once: plain listeners spare the once() wrappers.
          response.on('close', onBodyClose);
          settings.observe?.(req, response, headers);
        },
        upgrade() {
          if (done) return false;
          // A WebSocket may be quiet for hours: the tunnel has no timer of ours.
          timings.firstByte = since();
          settle({ kind: 'answered', status: 101, timings });
          return true;
        },
        information(info) {
          if (!done) relayEarlyHints(req, res, info);
        },
        error(error) {
          if (done) return;
          // Bytes after a complete response (a 204 or 304 followed by a body, or garbage): Node's parser fails on them
          // as the start of a next response and destroys the connection, but this response is whole and ends as such.
          if (proxyRes?.complete === true) return;
          if (clientWentAway(req)) {
            settle({ kind: 'aborted', phase: phaseOf[step], headSent, stalled: undefined, timings });
            stopUpstream();
            return;
          }
          const failure = classify(error) ?? failureOf('connection_terminated', { cause: error });
          fail(failure, undefined, lostRace(failure));
        },
      },
    );
    // Once the engine piped `req`, so that the pipe, not this watcher, starts its flow; unless it is already over.
    if (uploading && !done) req.on('data', onUpload);
  });
}
