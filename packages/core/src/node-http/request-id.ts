import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Shared by every copy of the package, so a proxy event and a page rendered elsewhere name the same id. */
const requestIdKey: unique symbol = Symbol.for('gateway-errors.requestId');

/** The header that carries the request id, in and out. */
const requestIdHeader = 'x-request-id';

/**
 * An incoming id is reused only when it is short and plain: it is echoed in a header, a page and logs, so anything
 * that could smuggle markup, spaces or control characters is replaced by a fresh one.
 */
const safeRequestId = /^[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}$/;

/**
 * The id of this request, for the support reference on the page, the X-Request-Id header and every event. Taken
 * from an incoming X-Request-Id when it is safe and `trustIncoming` is on, generated otherwise; the same for the
 * whole life of the request.
 */
export function requestIdOf(req: IncomingMessage, trustIncoming = true): string {
  const holder = req as IncomingMessage & { [requestIdKey]?: string };
  const known = holder[requestIdKey];
  if (known !== undefined) return known;
  const incoming = req.headers[requestIdHeader];
  const id = trustIncoming && typeof incoming === 'string' && safeRequestId.test(incoming) ? incoming : randomUUID();
  holder[requestIdKey] = id;
  return id;
}
