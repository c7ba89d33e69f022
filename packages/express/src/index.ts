import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  answerFailure,
  createErrorResponder,
  createMaintenance,
  createPreview,
  createProxy,
  type ErrorResponder,
  type ErrorResponseOptions,
  gatewayWarning,
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

/** Express's `next`. */
export type NextFunction = (error?: unknown) => void;
/** A request handler, typed on Node's request and response so it fits Express 4 and 5 alike. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;
/** An error handler (four arguments: Express tells them apart by arity). */
export type ErrorRequestHandler = (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
) => void;
/**
 * Options of {@link gatewayErrors}: those of the core's error response, with `nonce` typed for Express, whose
 * response carries `res.locals` (where a per-request CSP nonce is usually kept).
 */
export interface GatewayErrorsOptions extends Omit<ErrorResponseOptions, 'nonce'> {
  /**
   * The Content-Security-Policy nonce of this response, when it is not in its policy header already (see the core's
   * `nonce`). Express calls it with its own request and response.
   * @example
   * gatewayErrors({ nonce: (req, res) => res.locals.cspNonce })
   */
  // biome-ignore lint/suspicious/noExplicitAny: Express types res.locals so, and any value a user keeps there is checked
  nonce?: (req: IncomingMessage, res: ServerResponse & { locals: Record<string, any> }) => string | undefined;
}
/** The error handler of {@link gatewayErrors}, with the preview of its pages. */
export interface GatewayErrorsHandler extends ErrorRequestHandler {
  /**
   * A development-only page that lists every page this handler shows (each status, maintenance, each language, HTML,
   * JSON and text), rendered with its own templates, locals and messages; your templates are read again on each
   * request. Answers at `/_errors` (the `path` option) only when NODE_ENV is `development`; otherwise every request
   * goes on, as if it were not mounted. Mount it before your routes.
   * @example
   * const errors = gatewayErrors({ templates: './views/errors' });
   * app.use(errors.preview()); // http://127.0.0.1:3000/_errors
   * // ... routes, proxies ...
   * app.use(errors);
   */
  preview(options?: PreviewOptions): RequestHandler;
}
/** Options of {@link gatewayProxy}: those of the core's proxy. */
export type GatewayProxyOptions = ProxyOptions;
/** The proxy middleware, with the proxy (events, `close()`) and the `upgrade` listener for WebSocket handshakes. */
export interface GatewayProxyMiddleware extends RequestHandler, ProxyMiddlewareParts {}
/** The maintenance middleware, with its gate to switch it at run time (`gate.enabled = false`). */
export interface MaintenanceMiddleware extends RequestHandler, MaintenanceMiddlewareParts {}

/**
 * Answers every gateway failure that reaches Express's error chain, whatever produced it: our proxy, your own
 * http-proxy instance calling `next(err)`, a failing fetch, undici, axios or got call in a route, our error classes.
 * Other errors go on to `next(err)` untouched. Mount it after your routes.
 * @example
 * app.use('/api', gatewayProxy({ target: 'http://127.0.0.1:4000' }));
 * app.use(gatewayErrors({ templates: './views/errors', locals: { siteName: 'Acme' } }));
 */
export function gatewayErrors(options?: GatewayErrorsOptions): GatewayErrorsHandler {
  // Every response this responder answers is Express's (this handler's, or the proxy's and maintenance()'s when
  // they find it after them), so `nonce` gets `res.locals`: the cast only widens its parameter types back.
  const responder = createErrorResponder(options as ErrorResponseOptions);
  const handler: ErrorRequestHandler = (error, req, res, next) => {
    if (!responder.handle(error, req, res)) next(error);
  };
  const preview = (previewOptions?: PreviewOptions): RequestHandler => {
    const answer = createPreview(responder, previewOptions);
    return named('gatewayErrorsPreview', (req, res, next) => {
      if (!answer(req, res)) next();
    });
  };
  return Object.assign(markResponder(named('gatewayErrors', handler), responder), { preview });
}

/**
 * Proxies to `target` with the core's timeouts, retries and failure handling. Mounted on a path, it forwards the
 * rest of the path. Failures before the response head go to `gatewayErrors()` when one is mounted, or are answered
 * with the default page; failures after the head abort the connection.
 * @example
 * const api = gatewayProxy({ target: 'http://127.0.0.1:4000', timeouts: { connect: 2000, response: 15000 } });
 * app.use('/api', api);
 * const server = app.listen(3000);
 * server.on('upgrade', api.upgrade); // WebSocket handshakes under /api, through the app like any request
 */
export function gatewayProxy(options: GatewayProxyOptions): GatewayProxyMiddleware {
  const proxy = createProxy(options);
  let checked = false;
  const middleware: RequestHandler = named('gatewayProxy', (req, res, next) => {
    if (!checked) checked = checkMounting(req, middleware, 'gatewayProxy()');
    proxy.forward(req, res).then((error) => {
      if (error === undefined) return;
      // then(ok, next) does not catch what ok throws: without this, a throw while answering would be an unhandled
      // rejection and the client would get nothing. (A try costs nothing; a catch() would add a promise per request.)
      try {
        const errors = errorsOf(req, middleware);
        if (errors.responder === undefined || errors.direct) answerFailure(error.failure, req, res, errors.responder);
        else next(error);
      } catch (thrown) {
        next(thrown);
      }
    }, next);
  });
  return withProxy(middleware, proxy);
}

/**
 * Answers 503 (`proxy_internal_response`, Retry-After until `until`) while maintenance is on, except for the paths,
 * addresses or secret header it allows. Rendered with the options of the `gatewayErrors()` mounted after it (directly:
 * maintenance is not an error for your error handlers), or with the defaults. Mount it first.
 * @example
 * app.use(maintenance({ enabled: () => flags.down, until: new Date('2026-12-01T06:00:00Z'), allow: { paths: ['/health'] } }));
 */
export function maintenance(options?: MaintenanceOptions): MaintenanceMiddleware {
  const gate = createMaintenance(options);
  let checked = false;
  const middleware: RequestHandler = named('maintenance', (req, res, next) => {
    if (!checked) checked = checkMounting(req, middleware, 'maintenance()');
    const failure = gate.check(req);
    if (failure === undefined) next();
    else answerFailure(failure, req, res, errorsOf(req, middleware).responder);
  });
  return withGate(middleware, gate);
}

/** A layer of an Express router: its handler (a router is one too, with a stack), or a route with its own stack. */
type Layer = { handle?: ((...args: never[]) => unknown) & { stack?: Layer[] }; route?: { stack?: Layer[] } };
type AppLike = { _router?: { stack?: Layer[] }; router?: { stack?: Layer[] }; parent?: AppLike };

/** Every handler of a router, depth first through Routers and routes: the order Express runs them in. */
function handlersOf(stack: Layer[] | undefined, into: unknown[] = [], depth = 0): unknown[] {
  if (stack === undefined || depth > 8) return into;
  for (const layer of stack) {
    into.push(layer.handle);
    handlersOf(layer.handle?.stack ?? layer.route?.stack, into, depth + 1);
  }
  return into;
}

/** Where the `gatewayErrors()` of a request is, as seen from a middleware: after it, or not (before it, or none). */
type ErrorsPlace = { responder: ErrorResponder; direct: boolean } | { responder: undefined; before: boolean };

/**
 * The `gatewayErrors()` that will see `handler`'s `next(err)`: one after it in its app (Express runs error handlers in
 * order, so one mounted before it never would), or anywhere in an app it is mounted in (a sub-app hides where it
 * sits). `direct` when it is the very next error handler in the handler's own app: no other error handler would see
 * the error, so it is answered there and then, without Express's error routing (its router walk cost about 20 µs per
 * failure in `pnpm bench`). When there is none, `before` says whether one is mounted before `handler` in its own app,
 * where it never sees the error. Express 4 keeps its router in `app._router`, Express 5 in `app.router`.
 */
function errorsOf(req: IncomingMessage, handler: unknown): ErrorsPlace {
  let before = false;
  let ownApp = true;
  for (let app = (req as { app?: AppLike }).app; app !== undefined; app = app.parent) {
    const handlers = handlersOf((app._router ?? app.router)?.stack);
    const at = handlers.indexOf(handler);
    let direct = ownApp && at >= 0;
    for (const other of handlers.slice(at + 1)) {
      const responder = responderOf(other);
      if (responder !== undefined) return { responder, direct };
      // Express tells error handlers by their four parameters.
      if ((other as { length?: number } | undefined)?.length === 4) direct = false;
    }
    if (ownApp && at > 0) before = handlers.slice(0, at).some((other) => responderOf(other) !== undefined);
    ownApp = false;
  }
  return { responder: undefined, before };
}

/**
 * At a middleware's first request, warns when no `gatewayErrors()` will see its failures, so that the mistake shows
 * in development, before an outage: one is mounted before it (its templates, locals and messages are left out, and
 * the routes after it get Express's own 500 page), or none at all. Without any, a proxy is warned about (the routes'
 * failing fetch() calls get Express's own 500 page too), not a maintenance gate: its page is a setup of its own.
 * Returns true: the check is done, whatever it found.
 */
function checkMounting(req: IncomingMessage, middleware: RequestHandler, name: string): true {
  try {
    const errors = errorsOf(req, middleware);
    if (errors.responder !== undefined || (!errors.before && name === 'maintenance()')) return true;
    gatewayWarning(
      'GATEWAY_ERRORS_MOUNTING',
      errors.before
        ? `a ${name} is mounted after this app's gatewayErrors(), which never sees its failures: Express gives an ` +
            'error only to the error handlers mounted after the middleware that failed. They get the default ' +
            "page without your templates, locals and messages, and your routes' failing fetch(), axios or got calls " +
            "Express's own 500 page. Mount app.use(gatewayErrors(...)) after your routes and proxies, last."
        : `no gatewayErrors() is mounted after this ${name}: its failures get the default page, and your routes' ` +
            "failing fetch(), axios or got calls Express's own 500 page. Mount app.use(gatewayErrors()) after your " +
            'routes and proxies, last: it answers them all, with your templates and locals.',
      { per: middleware },
    );
  } catch {
    // A look at the app's router must never fail the request it was made for.
  }
  return true;
}
