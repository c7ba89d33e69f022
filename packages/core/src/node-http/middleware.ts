import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayFailure } from '../failure/failure.js';
import type { GatewayProxy } from '../proxy/proxy.js';
import type { MaintenanceGate } from '../resilience/maintenance.js';
import { defaultErrorResponder, type ErrorResponder } from '../response/responder.js';
import type { UpgradeListener } from './upgrade.js';

/**
 * Where an adapter finds the `gatewayErrors()` that answers for a request: a mark on whatever the framework lets it
 * reach (Express's error handler in the router, Koa's context). Shared by every copy of the package.
 */
const responderMark: unique symbol = Symbol.for('gateway-errors.responder');

type Marked = { [responderMark]?: ErrorResponder };

/**
 * Marks `holder` with the responder of a `gatewayErrors()` (Express marks its error handler, Koa the request's
 * context), so that a proxy or a maintenance gate can find it with {@link responderOf}; returns `holder`.
 */
export function markResponder<Holder extends object>(holder: Holder, responder: ErrorResponder): Holder {
  (holder as Marked)[responderMark] = responder;
  return holder;
}

/** The responder `holder` was marked with, if any. */
export function responderOf(holder: unknown): ErrorResponder | undefined {
  return typeof holder === 'object' || typeof holder === 'function'
    ? (holder as Marked | null)?.[responderMark]
    : undefined;
}

/**
 * Answers `failure` on the response with `responder`, the options of the `gatewayErrors()` found for the request, or
 * with the default responder when none is mounted. Maintenance answers this way, and a proxy failure that no error
 * handler of the framework will see.
 */
export function answerFailure(
  failure: GatewayFailure,
  req: IncomingMessage,
  res: ServerResponse,
  responder?: ErrorResponder,
): void {
  (responder ?? defaultErrorResponder()).send(failure, req, res);
}

/**
 * Names a middleware after the function that made it (`gatewayErrors`, `gatewayProxy`, `maintenance`), so that stack
 * traces and router debug output (`DEBUG=express:*`, Koa's `use gatewayErrors`) say whose frame it is. Set as the
 * `name` property, which V8 shows in stack traces: a bundler or a test transform that renames a nested function
 * (esbuild makes `gatewayErrors2` of one inside `gatewayErrors`) or a minifier does not change it.
 */
export function named<Handler extends object>(name: string, handler: Handler): Handler {
  return Object.defineProperty(handler, 'name', { value: name, configurable: true });
}

/** What every adapter's `gatewayProxy()` middleware carries besides being one. */
export interface ProxyMiddlewareParts {
  /** The proxy itself, for its events (`proxy.on('failure', ...)`, `logTo(proxy, logger)`) and `close()`. */
  readonly proxy: GatewayProxy;
  /**
   * WebSocket handshakes: `server.on('upgrade', middleware.upgrade)`. The framework never sees an upgrade on its own;
   * this listener gives each handshake to the app as a request, so routing, the mount path and every middleware
   * before the proxy (auth, `maintenance()`) apply to it as to any request. Only a handshake that reaches this
   * middleware (or another `gatewayProxy()`) is proxied, with the path a request would have; a failure goes to
   * `gatewayErrors()` like any; whatever the app answers instead (its 404, a 401) is written on the socket, then it is
   * closed. With other `upgrade` listeners on the server, a handshake the app does not route to a proxy is left to
   * them.
   */
  readonly upgrade: UpgradeListener;
}

/** Gives a proxy middleware its {@link ProxyMiddlewareParts}: the proxy, and the `upgrade` listener that routes to it. */
export function withProxy<Handler extends object>(
  handler: Handler,
  proxy: GatewayProxy,
): Handler & ProxyMiddlewareParts {
  return Object.assign(handler, { proxy, upgrade: proxy.routeUpgrade });
}

/** What every adapter's `maintenance()` middleware carries besides being one. */
export interface MaintenanceMiddlewareParts {
  /** The gate, to switch maintenance at run time (`gate.enabled = false`, `gate.until = ...`). */
  readonly gate: MaintenanceGate;
}

/** Gives a maintenance middleware its gate. */
export function withGate<Handler extends object>(
  handler: Handler,
  gate: MaintenanceGate,
): Handler & MaintenanceMiddlewareParts {
  return Object.assign(handler, { gate });
}
