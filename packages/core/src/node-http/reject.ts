import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { RenderedError } from '../response/render.js';

/**
 * Why the proxy refused a client's request itself, before (or instead of) forwarding it. These are the client's
 * mistakes or attacks, not upstream failures: they never reach the circuit breaker, health or retries, and they are
 * answered in plain text, since a request we refuse to forward may not be one whose framing we can trust.
 */
export type RejectReason =
  /** An upgrade that is not a WebSocket handshake (`Upgrade: h2c`, a POST): RFC 6455 §4.1. */
  | 'not-a-websocket'
  /**
   * 400: a request-target with a `..` segment, as written or decoded (`/..%2fadmin`): it could leave the target's
   * path at the upstream. The request-target rule of docs/proxy.md.
   */
  | 'unsafe-path'
  /**
   * 501: a Transfer-Encoding other than `chunked` alone (`gzip, chunked`): RFC 9112 §6.1. Re-framed as plain chunked
   * the body would change meaning; the body is never read.
   */
  | 'unsupported-transfer-coding'
  /** 400: a WebSocket handshake that announces a body (Content-Length or Transfer-Encoding): see `announcesBody`. */
  | 'upgrade-with-body';

/** The plain answer to a refused request: short text, never cached, and the connection closes after it. */
export function rejection(status: number, message: string): RenderedError {
  const body = `${STATUS_CODES[status] ?? 'Error'}: ${message}\n`;
  return {
    status,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      connection: 'close',
    },
    body,
  };
}

/**
 * Answers a refused request on its response and closes the connection after it (RFC 9112 §9.6): whatever the
 * client sent after the part we read, such as a body we will not read, must never be parsed as the next request.
 * When the head already went out, the connection is destroyed instead.
 */
export function writeRejection(req: IncomingMessage, res: ServerResponse, rendered: RenderedError): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.shouldKeepAlive = false;
  res.writeHead(rendered.status, rendered.headers);
  res.end(req.method === 'HEAD' ? undefined : rendered.body);
}
