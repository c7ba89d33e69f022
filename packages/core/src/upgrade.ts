import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type AttemptSettings, phaseOf, type Step, timeoutFailure, watchConnection } from './attempt.js';
import { classify, clientWentAway } from './classify.js';
import { failureOf, type GatewayFailure, type Timings } from './failure.js';
import { rawHead } from './headers.js';
import type { TimeoutName } from './proxy-events.js';
import type { UpstreamTarget } from './proxy-options.js';
import type { RenderedError } from './render.js';
import type { FailurePhase } from './taxonomy.js';

/** How a WebSocket upgrade ended. */
export type UpgradeOutcome =
  /** The upstream answered (101 and a tunnel, or another status relayed to the client). */
  | { readonly kind: 'answered'; readonly status: number; readonly timings: Timings }
  /** The client went away before the upstream answered. */
  | { readonly kind: 'aborted'; readonly phase: FailurePhase; readonly timings: Timings }
  /** The upstream failed before answering; our error response went out on the socket, then it was closed. */
  | {
      readonly kind: 'failed';
      readonly failure: GatewayFailure;
      readonly timeout: TimeoutName | undefined;
      readonly timings: Timings;
    };

/** Whether `req` is a WebSocket handshake the engine will proxy (RFC 6455 §4.1: GET with `Upgrade: websocket`). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && typeof req.headers.upgrade === 'string' && /^websocket$/i.test(req.headers.upgrade);
}

/**
 * Whether a handshake announces a body: any Content-Length (even 0) or Transfer-Encoding. Node's server reads no body
 * for an upgrade request (the bytes after its head belong to the new protocol, or to nobody). Forwarded, the length
 * would make the upstream read that many bytes of whatever comes next on its connection as this body: the next
 * request on it, anyone's, loses its head, and its body is parsed as a request of the attacker's (RFC 9112 §6.3,
 * §11.2: request smuggling). A WebSocket handshake has no body (RFC 6455 §4.1), so none is ever forwarded.
 */
export function announcesBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Writes an HTTP response on a raw socket that was never upgraded, then closes it: status line, the rendered
 * headers (Retry-After, Proxy-Status, Content-Length, ...), `Connection: close` (RFC 9112 §9.6), the body.
 */
export function writeSocketResponse(socket: Duplex, rendered: RenderedError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawHead(rendered.status, rendered.headers) + rendered.body, () => socket.destroy());
}

/**
 * Runs a WebSocket upgrade against `target`, under the connect and response timeouts (and the deadline) of an HTTP
 * attempt. A failure before the upstream answered is answered on the raw socket with `render(failure)`, then the
 * socket is closed; after the 101 the engine owns the tunnel and a failure just closes both sides.
 */
export function runUpgrade(
  settings: AttemptSettings,
  target: UpstreamTarget,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  render: (failure: GatewayFailure) => RenderedError,
): Promise<UpgradeOutcome> {
  return new Promise<UpgradeOutcome>((resolve) => {
    const { timeouts } = settings;
    const started = performance.now();
    const timings: Timings = {};
    let step: Step = 'connect';
    let proxyReq: ClientRequest | undefined;
    let done = false;
    let timer = setTimeout(onTimer, timeouts.connect);
    let timerMs = timeouts.connect;
    const deadline = Number.isFinite(timeouts.deadline) ? setTimeout(onDeadline, timeouts.deadline) : undefined;

    function settle(outcome: UpgradeOutcome): void {
      done = true;
      clearTimeout(timer);
      clearTimeout(deadline);
      socket.off('close', onClientClose);
      socket.off('end', onClientClose);
      timings.total = performance.now() - started;
      resolve(outcome);
    }
    function fail(failure: GatewayFailure, timeout: TimeoutName | undefined): void {
      if (done) return;
      const complete = { ...failure, upstream: target.origin, timings };
      settle({ kind: 'failed', failure: complete, timeout, timings });
      // Answer first: destroying the upstream request makes the engine close the client socket right after.
      writeSocketResponse(socket, render(complete));
      proxyReq?.destroy();
    }
    function onTimer(): void {
      const timeout: TimeoutName = step === 'connect' ? 'connect' : 'response';
      fail(timeoutFailure(step, timeout, timerMs, target, timings), timeout);
    }
    function onDeadline(): void {
      fail(timeoutFailure(step, 'deadline', timeouts.deadline, target, timings), 'deadline');
    }
    function onClientClose(): void {
      if (done) return;
      settle({ kind: 'aborted', phase: phaseOf[step], timings });
      proxyReq?.destroy();
      // The server keeps a raw socket half-open after the client's FIN; nothing will be sent on it now.
      socket.destroy();
    }
    function answered(status: number): void {
      if (done) return;
      timings.firstByte = performance.now() - started;
      settle({ kind: 'answered', status, timings });
    }

    socket.on('close', onClientClose);
    socket.on('end', onClientClose);
    settings.engine.ws(
      req,
      socket,
      head,
      { target, body: undefined, changeOrigin: settings.changeOrigin },
      {
        request(request) {
          proxyReq = request;
          watchConnection(request, target, timings, started, () => {
            if (done || step !== 'connect') return;
            step = 'wait';
            clearTimeout(timer);
            timer = setTimeout(onTimer, timeouts.response);
            timerMs = timeouts.response;
          });
          request.once('upgrade', () => answered(101));
          request.once('response', (response: IncomingMessage) => {
            answered(response.statusCode ?? 502);
            // The engine relays a non-101 answer and closes the socket at its end; if the upstream dies in its
            // body, the end never comes, so the client connection is closed here (a truncated response).
            response.once('close', () => {
              if (!response.complete) socket.destroy();
            });
          });
        },
        response() {},
        error(error) {
          if (done) return;
          if (clientWentAway(req)) {
            onClientClose();
            return;
          }
          fail(classify(error) ?? failureOf('http_upgrade_failed', { cause: error }), undefined);
        },
      },
    );
  });
}
