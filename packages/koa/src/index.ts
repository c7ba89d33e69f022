import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  answerFailure,
  configError,
  createErrorResponder,
  createMaintenance,
  createPreview,
  createProxy,
  type ErrorResponseOptions,
  gatewayWarning,
  keepOriginalUrl,
  type MaintenanceMiddlewareParts,
  type MaintenanceOptions,
  markResponder,
  named,
  type PreviewOptions,
  type ProxyMiddlewareParts,
  type ProxyOptions,
  responderOf,
  withGate,
  withProxy,
} from '@gateway-errors/core';

// What a user of this adapter may need to name or throw, from the core (which such a user may not depend on).
export {
  BadGatewayError,
  type ConfigErrorCode,
  classify,
  type FailureType,
  GatewayError,
  type GatewayFailure,
  type GatewayProxy,
  GatewayTimeoutError,
  isGatewayError,
  logTo,
  type MaintenanceGate,
  type MaintenanceOptions,
  type PreviewOptions,
  type ProxyEvents,
  type RenderHook,
  ServiceUnavailableError,
  type WarningCode,
} from '@gateway-errors/core';

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
/** The middleware of {@link gatewayErrors}, with the preview of its pages. */
export interface GatewayErrorsMiddleware extends KoaMiddleware {
  /**
   * A development-only page that lists every page this middleware shows (each status, maintenance, each language,
   * HTML, JSON and text), rendered with its own templates, locals and messages; your templates are read again on each
   * request. Answers at `/_errors` (the `path` option) only when NODE_ENV is `development`; otherwise every request
   * goes on, as if it were not mounted.
   * @example
   * const errors = gatewayErrors({ templates: './views/errors' });
   * app.use(errors);
   * app.use(errors.preview()); // http://127.0.0.1:3000/_errors
   */
  preview(options?: PreviewOptions): KoaMiddleware;
}
/** Options of {@link gatewayProxy}: those of the core's proxy. */
export type GatewayProxyOptions = ProxyOptions;
/** The proxy middleware, with the proxy (events, `close()`) and the `upgrade` listener for WebSocket handshakes. */
export interface GatewayProxyMiddleware extends KoaMiddleware, ProxyMiddlewareParts {}
/** The maintenance middleware, with its gate to switch it at run time (`gate.enabled = false`). */
export interface MaintenanceMiddleware extends KoaMiddleware, MaintenanceMiddlewareParts {}

/**
 * Catches gateway failures thrown downstream (our proxy, fetch/undici/axios/got failures, our error classes,
 * `ctx.throw(503, { headers: { 'Retry-After': '30' } })`) and answers them, keeping headers set earlier (Koa's own
 * onerror wipes them). Other errors are rethrown unchanged. It marks the context, so that a proxy below it throws its
 * failures up instead of answering, and a maintenance gate answers with its options. Mount it first.
 * @example
 * app.use(gatewayErrors({ templates: './views/errors' }));
 * app.use(gatewayProxy({ target: 'http://127.0.0.1:4000' }));
 */
export function gatewayErrors(options: GatewayErrorsOptions = {}): GatewayErrorsMiddleware {
  const { emitError = true, ...responseOptions } = options;
  if (typeof emitError !== 'boolean') {
    throw configError('GATEWAY_ERRORS_INVALID_OPTION', 'emitError must be true or false.');
  }
  const responder = createErrorResponder(responseOptions);
  let checked = false;
  // Marked too, so that a proxy or a gate it does not wrap can tell it is mounted below them.
  const middleware: KoaMiddleware = named('gatewayErrors', async (ctx: KoaContext, next: KoaNext) => {
    if (!checked) checked = checkMounting(ctx, middleware, 'gatewayErrors()');
    markResponder(ctx, responder);
    try {
      await next();
    } catch (error) {
      if (!responder.handle(error, ctx.req, ctx.res)) throw error;
      // We wrote the response on Node's own objects; Koa must not write it again.
      ctx.respond = false;
      if (emitError) ctx.app.emit('error', error, ctx);
    }
  });
  const preview = (previewOptions?: PreviewOptions): KoaMiddleware => {
    const answer = createPreview(responder, previewOptions);
    return named('gatewayErrorsPreview', async (ctx: KoaContext, next: KoaNext) => {
      // Written on Node's own response, like an error page: Koa must not write it again.
      if (answer(ctx.req, ctx.res)) ctx.respond = false;
      else await next();
    });
  };
  return Object.assign(markResponder(middleware, responder), { preview });
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
  let checked = false;
  const middleware: KoaMiddleware = named('gatewayProxy', async (ctx: KoaContext) => {
    if (!checked) checked = checkMounting(ctx, middleware, 'gatewayProxy()');
    ctx.respond = false;
    try {
      // The full URL for the core's path rules: koa-mount rewrote req.url.
      const error = await proxy.forward(keepOriginalUrl(ctx.req, ctx.originalUrl), ctx.res);
      if (error === undefined) return;
      if (responderOf(ctx) !== undefined) throw error;
      answerFailure(error.failure, ctx.req, ctx.res);
    } catch (thrown) {
      // Our failure for gatewayErrors(), a mounting mistake (ConsumedBodyError) or something unexpected: whoever
      // catches it above (gatewayErrors(), the app's error middleware, Koa's onerror) must be able to answer, and
      // Koa writes nothing while `respond` is off.
      if (!ctx.res.headersSent) ctx.respond = true;
      throw thrown;
    }
  });
  return withProxy(middleware, proxy);
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
  let checked = false;
  const middleware: KoaMiddleware = named('maintenance', async (ctx: KoaContext, next: KoaNext) => {
    if (!checked) checked = checkMounting(ctx, middleware, 'maintenance()');
    const failure = gate.check(keepOriginalUrl(ctx.req, ctx.originalUrl));
    if (failure === undefined) {
      await next();
      return;
    }
    ctx.respond = false;
    answerFailure(failure, ctx.req, ctx.res, responderOf(ctx));
  });
  return withGate(middleware, gate);
}

/**
 * At a middleware's first request, warns when no `gatewayErrors()` will see its failures, so that the mistake shows
 * in development, before an outage. For a proxy or a gate: none is above it, but one is mounted below it in the app
 * (its templates, locals and messages are left out), or none at all (a proxy only: a gate's page is a setup of its
 * own). For a `gatewayErrors()`: it is mounted last, so it wraps nothing, and every route's failure gets Koa's bare
 * 500. Koa keeps the app's middleware in `app.middleware`; under koa-mount or a router, a middleware is not in it,
 * and only "none above" can be told. Returns true: the check is done, whatever it found.
 */
function checkMounting(ctx: KoaContext, middleware: KoaMiddleware, name: string): true {
  try {
    const stack = (ctx.app as { middleware?: unknown[] }).middleware ?? [];
    let message: string | undefined;
    if (name === 'gatewayErrors()') {
      if (stack.at(-1) === middleware) {
        message =
          "this app's gatewayErrors() is mounted last, so it wraps nothing: a Koa middleware catches only what is " +
          "thrown below it. Your proxies' failures get the default page without your templates and locals, and your " +
          "routes' failing fetch(), axios or got calls Koa's bare 500 Internal Server Error. Mount " +
          'app.use(gatewayErrors(...)) first, before your routes and proxies.';
      }
    } else if (responderOf(ctx) === undefined) {
      const below = stack.some((other) => responderOf(other) !== undefined);
      if (below) {
        message =
          `this app's gatewayErrors() is mounted below a ${name}, so it never sees its failures, nor those of the ` +
          'routes above it: a Koa middleware catches only what is thrown below it. The failures get the default page ' +
          "without your templates, locals and messages, and your routes' failing fetch(), axios or got calls Koa's " +
          'bare 500 Internal Server Error. Mount app.use(gatewayErrors(...)) first, before your routes and proxies.';
      } else if (name !== 'maintenance()') {
        message =
          `no gatewayErrors() is mounted above this ${name}: its failures get the default page, and your routes' ` +
          "failing fetch(), axios or got calls Koa's bare 500 Internal Server Error. Mount app.use(gatewayErrors()) " +
          'first, before your routes and proxies: it answers them all, with your templates and locals.';
      }
    }
    if (message !== undefined) gatewayWarning('GATEWAY_ERRORS_MOUNTING', message, { per: middleware });
  } catch {
    // A look at the app's middleware must never fail the request it was made for.
  }
  return true;
}
