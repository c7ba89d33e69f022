import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  configError,
  createErrorResponder,
  createMaintenance,
  createProxy,
  defaultErrorResponder,
  type ErrorResponder,
  type ErrorResponseOptions,
  type GatewayProxy,
  type MaintenanceGate,
  type MaintenanceOptions,
  type ProxyOptions,
  type UpgradeListener,
} from '@gateway-errors/core';

export * from '@gateway-errors/core';

/** The part of Koa's context we use; Koa 2's and Koa 3's contexts both fit it. */
export interface KoaContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** The URL before koa-mount rewrote it. */
  originalUrl?: string;
  respond?: boolean;
  app: { emit(event: string | symbol, ...args: unknown[]): boolean };
}
/** Koa's `next`. */
export type KoaNext = () => Promise<unknown>;
/** A Koa middleware. */
export type KoaMiddleware = (ctx: KoaContext, next: KoaNext) => Promise<void>;

/** Options of {@link gatewayErrors}. */
export interface GatewayErrorsOptions extends ErrorResponseOptions {
  /**
   * Emit the app's `error` event for each gateway failure answered, as Koa does for errors it handles, so existing
   * logging keeps working.
   * @default true
   */
  emitError?: boolean;
}
/** Options of {@link gatewayProxy}: those of the core's proxy. */
export type GatewayProxyOptions = ProxyOptions;

/**
 * Set on the context by `gatewayErrors()` to its responder, so that a proxy below it throws its failures up instead
 * of answering, and a maintenance gate answers with its options.
 */
const errorsMounted: unique symbol = Symbol.for('gateway-errors.koa.gatewayErrors');
type Marked = KoaContext & { [errorsMounted]?: ErrorResponder };

/**
 * Catches gateway failures thrown downstream (our proxy, fetch/undici/axios/got failures, our error classes,
 * `ctx.throw(503, { headers: { 'Retry-After': '30' } })`) and answers them, keeping headers set earlier (Koa's own
 * onerror wipes them). Other errors are rethrown unchanged. Mount it first.
 * @example
 * app.use(gatewayErrors({ templates: './views/errors' }));
 * app.use(gatewayProxy({ target: 'http://127.0.0.1:4000' }));
 */
export function gatewayErrors(options: GatewayErrorsOptions = {}): KoaMiddleware {
  const { emitError = true, ...responseOptions } = options;
  if (typeof emitError !== 'boolean')
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'emitError must be true or false.');
  const responder = createErrorResponder(responseOptions);
  return async (ctx, next) => {
    (ctx as Marked)[errorsMounted] = responder;
    try {
      await next();
    } catch (error) {
      if (!responder.handle(error, ctx.req, ctx.res)) throw error;
      // We wrote the response on Node's own objects; Koa must not write it again.
      ctx.respond = false;
      if (emitError) ctx.app.emit('error', error, ctx);
    }
  };
}

/**
 * The request, with the URL the client asked for in `originalUrl` as Express keeps it: koa-mount rewrites `req.url`,
 * and the core's path rules (maintenance's allowed paths, the robots.txt keeper) read the full path.
 */
function withOriginalUrl(ctx: KoaContext): IncomingMessage {
  const req = ctx.req as IncomingMessage & { originalUrl?: string };
  req.originalUrl ??= ctx.originalUrl;
  return req;
}

/** The proxy middleware, with the proxy itself for events (`proxy.on('failure', ...)`) and shutdown. */
export interface GatewayProxyMiddleware extends KoaMiddleware {
  readonly proxy: GatewayProxy;
  /**
   * WebSocket handshakes: `server.on('upgrade', middleware.upgrade)`. Koa never sees an upgrade on its own; this
   * listener gives each handshake to the app (`app.callback()`) as a request, so koa-mount, @koa/router and every
   * middleware above the proxy (auth, `maintenance()`) apply to it as to any request. Only a handshake that reaches
   * this middleware (or another `gatewayProxy()`) is proxied, with the path a request would have; a failure is
   * thrown to `gatewayErrors()` like any; whatever the app answers instead (Koa's 404, a 401) is written on the
   * socket, then it is closed. With other `upgrade` listeners on the server, a handshake the app does not route to a
   * proxy is left to them.
   */
  readonly upgrade: UpgradeListener;
}

/**
 * Proxies to `target`, streaming the upstream's answer straight to the client (Koa's body handling is bypassed).
 * Failures before the response head are thrown to `gatewayErrors()` when it is mounted above, or answered with the
 * default page; failures after the head abort the connection. Works under koa-mount (the mount path is stripped)
 * and @koa/router (the full path is forwarded).
 * @example
 * const api = gatewayProxy({ target: 'http://127.0.0.1:4000' });
 * app.use(mount('/api', api));
 * const server = app.listen(3000);
 * server.on('upgrade', api.upgrade); // WebSocket handshakes under /api, through the app like any request
 */
export function gatewayProxy(options: GatewayProxyOptions): GatewayProxyMiddleware {
  const proxy = createProxy(options);
  const middleware: KoaMiddleware = async (ctx) => {
    ctx.respond = false;
    try {
      const error = await proxy.forward(withOriginalUrl(ctx), ctx.res);
      if (error === undefined) return;
      if ((ctx as Marked)[errorsMounted] !== undefined) throw error;
      defaultErrorResponder().send(error.failure, ctx.req, ctx.res);
    } catch (thrown) {
      // Our failure for gatewayErrors(), a mounting mistake (ConsumedBodyError) or something unexpected: whoever
      // catches it above (gatewayErrors(), the app's error middleware, Koa's onerror) must be able to answer, and
      // Koa writes nothing while `respond` is off.
      if (!ctx.res.headersSent) ctx.respond = true;
      throw thrown;
    }
  };
  return Object.assign(middleware, { proxy, upgrade: proxy.routeUpgrade });
}

/** The maintenance middleware, with its gate to switch it at run time (`gate.enabled = false`). */
export interface MaintenanceMiddleware extends KoaMiddleware {
  readonly gate: MaintenanceGate;
}

/**
 * Answers 503 (`proxy_internal_response`, Retry-After until `until`) while maintenance is on, except for the paths,
 * addresses or secret header it allows. Rendered with the options of the `gatewayErrors()` above it (directly, with
 * no `error` event: maintenance is not an error), or with the defaults.
 * @example
 * app.use(gatewayErrors());
 * app.use(maintenance({ enabled: () => flags.down, until: new Date('2026-12-01T06:00:00Z') }));
 */
export function maintenance(options?: MaintenanceOptions): MaintenanceMiddleware {
  const gate = createMaintenance(options);
  const middleware: KoaMiddleware = async (ctx, next) => {
    const failure = gate.check(withOriginalUrl(ctx));
    if (failure === undefined) {
      await next();
      return;
    }
    ctx.respond = false;
    ((ctx as Marked)[errorsMounted] ?? defaultErrorResponder()).send(failure, ctx.req, ctx.res);
  };
  return Object.assign(middleware, { gate });
}
