import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { RenderedError } from '../response/render.js';

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
