/**
 * The adapters under test, each built the way a user builds an app: the same scenarios run over every one of them
 * (`describe.each(adapters)`), so Express and Koa keep the same behaviour by construction.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ErrorResponseOptions, PreviewOptions } from '@gateway-errors/core';
import * as expressAdapter from '@gateway-errors/express';
import * as koaAdapter from '@gateway-errors/koa';
import Router from '@koa/router';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import mount from 'koa-mount';
import Koa2 from 'koa2';

/** An http-proxy or http-proxy-3 server, as users create them. */
export interface OwnProxy {
  web(req: IncomingMessage, res: ServerResponse, options: { target: string }, callback: (error: Error) => void): void;
}

/** What a scenario asks of the app. Every part is optional. */
export interface AppSpec {
  /** `gatewayProxy(proxy)` at `/api`. */
  proxy?: expressAdapter.GatewayProxyOptions;
  /**
   * How the proxy is mounted. `mount`: `app.use('/api', ...)` / koa-mount, the prefix is stripped. `route`: a route
   * (`app.all('/api/*')` / @koa/router), the full path is forwarded. `root`: `app.use(proxy)`, every path.
   * @default 'mount'
   */
  mount?: 'mount' | 'route' | 'root';
  /** Route the server's WebSocket upgrades to the proxy: `server.on('upgrade', proxy.upgrade)`. */
  websocket?: boolean;
  /** Options of `gatewayErrors()` (the core's, which both adapters take), or `false` to mount none. */
  errors?: ErrorResponseOptions | false;
  /**
   * A route at `GET /route` answering JSON with what this resolves to. It usually makes a real failing call and
   * rejects: Express 5 gets an async handler (its router catches the rejection), Express 4 passes it to `next`.
   */
  route?: (res: ServerResponse) => Promise<unknown>;
  /** A user's own http-proxy instance at `/own`, whose error callback is `next` (Koa: a promise that rejects). */
  ownProxy?: { server: OwnProxy; target: string };
  /** Headers an earlier middleware sets on every response (security, CORS, a stale ETag). */
  earlyHeaders?: Record<string, string>;
  /** `maintenance(options)`, mounted before the proxy and the routes (after `earlyHeaders`). */
  maintenance?: expressAdapter.MaintenanceOptions;
  /**
   * An auth middleware before the proxy and the routes (after `maintenance`): it answers 401 unless the request
   * carries `Authorization: <this value>`.
   */
  auth?: string;
  /**
   * `errors.preview(options)` of the app's `gatewayErrors()`, mounted after `earlyHeaders`: at the root, or under
   * `at` (`app.use(at, ...)` / koa-mount).
   */
  preview?: { options?: PreviewOptions; at?: string };
}

export interface RunningApp {
  url: string;
  port: number;
  server: Server;
  proxy?: expressAdapter.GatewayProxy;
  /** The maintenance gate, to switch it at run time. */
  gate?: expressAdapter.MaintenanceGate;
  /** Errors that went past `gatewayErrors()`: to Express's next error handler, or rethrown in Koa. */
  passedOn: unknown[];
  /** Koa's app `error` events (Express has none). */
  errorEvents: unknown[];
  close(): Promise<void>;
}

export interface Adapter {
  name: string;
  framework: 'express' | 'koa';
  start(spec: AppSpec): Promise<RunningApp>;
}

/** What the app's own error handler answers with, to tell it apart from ours. */
export const appErrorHandlerBody = 'app error handler\n';

/** What the `auth` middleware answers with. */
export const unauthorizedBody = 'who are you?\n';

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function running(
  server: Server,
  proxy: expressAdapter.GatewayProxy | undefined,
  gate: expressAdapter.MaintenanceGate | undefined,
  passedOn: unknown[],
  errorEvents: unknown[],
): RunningApp {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    server,
    proxy,
    gate,
    passedOn,
    errorEvents,
    async close() {
      proxy?.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function expressAdapterFor(name: string, express: typeof express5, version: 4 | 5): Adapter {
  return {
    name,
    framework: 'express',
    async start(spec) {
      const app = express();
      const passedOn: unknown[] = [];
      if (spec.earlyHeaders) {
        const headers = spec.earlyHeaders;
        app.use((_req, res, next) => {
          res.set(headers);
          next();
        });
      }
      const errors = spec.errors === false ? undefined : expressAdapter.gatewayErrors(spec.errors);
      if (spec.preview && errors) {
        const preview = errors.preview(spec.preview.options);
        if (spec.preview.at === undefined) app.use(preview);
        else app.use(spec.preview.at, preview);
      }
      const gate = spec.maintenance ? expressAdapter.maintenance(spec.maintenance) : undefined;
      if (gate) app.use(gate);
      if (spec.auth !== undefined) {
        const secret = spec.auth;
        app.use((req, res, next) => {
          if (req.headers.authorization === secret) next();
          else res.status(401).type('text/plain').send(unauthorizedBody);
        });
      }
      const proxy = spec.proxy ? expressAdapter.gatewayProxy(spec.proxy) : undefined;
      if (proxy && spec.mount === 'route') app.all(version === 5 ? '/api/*rest' : '/api/*', proxy);
      else if (proxy && spec.mount === 'root') app.use(proxy);
      else if (proxy) app.use('/api', proxy);
      if (spec.ownProxy) {
        const { server, target } = spec.ownProxy;
        app.use('/own', (req, res, next) => server.web(req, res, { target }, next));
      }
      if (spec.route) {
        const route = spec.route;
        if (version === 5) {
          app.get('/route', async (_req, res) => {
            res.json(await route(res));
          });
        } else {
          app.get('/route', (_req, res, next) => {
            route(res).then((value) => res.json(value), next);
          });
        }
      }
      if (errors) app.use(errors);
      // The app's own error handler: whatever gatewayErrors() passes on lands here.
      app.use((error: unknown, _req: express5.Request, res: express5.Response, _next: express5.NextFunction) => {
        passedOn.push(error);
        res.status(500).type('text/plain').send(appErrorHandlerBody);
      });
      const server = await listen(app);
      if (spec.websocket && proxy) server.on('upgrade', proxy.upgrade);
      return running(server, proxy?.proxy, gate?.gate, passedOn, []);
    },
  };
}

function koaAdapterFor(name: string, Koa: typeof Koa3): Adapter {
  return {
    name,
    framework: 'koa',
    async start(spec) {
      const app = new Koa();
      const passedOn: unknown[] = [];
      const errorEvents: unknown[] = [];
      // Listening replaces Koa's default logger, so the tests stay quiet and can count the events.
      app.on('error', (error) => errorEvents.push(error));
      // The app's own error handling: whatever gatewayErrors() rethrows lands here.
      app.use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          passedOn.push(error);
          ctx.status = 500;
          ctx.type = 'text/plain';
          ctx.body = appErrorHandlerBody;
        }
      });
      const errors = spec.errors === false ? undefined : koaAdapter.gatewayErrors(spec.errors);
      if (errors) app.use(errors);
      if (spec.earlyHeaders) {
        const headers = spec.earlyHeaders;
        app.use(async (ctx, next) => {
          ctx.set(headers);
          await next();
        });
      }
      if (spec.preview && errors) {
        const preview = errors.preview(spec.preview.options);
        app.use(spec.preview.at === undefined ? preview : mount(spec.preview.at, preview));
      }
      const gate = spec.maintenance ? koaAdapter.maintenance(spec.maintenance) : undefined;
      if (gate) app.use(gate);
      if (spec.auth !== undefined) {
        const secret = spec.auth;
        app.use(async (ctx, next) => {
          if (ctx.get('authorization') === secret) return next();
          ctx.status = 401;
          ctx.type = 'text/plain';
          ctx.body = unauthorizedBody;
        });
      }
      const proxy = spec.proxy ? koaAdapter.gatewayProxy(spec.proxy) : undefined;
      if (proxy && spec.mount === 'route') {
        const router = new Router();
        router.all('/api/{*rest}', proxy);
        app.use(router.routes());
      } else if (proxy && spec.mount === 'root') {
        app.use(proxy);
      } else if (proxy) {
        app.use(mount('/api', proxy));
      }
      if (spec.ownProxy) {
        const { server, target } = spec.ownProxy;
        app.use(
          mount('/own', async (ctx) => {
            ctx.respond = false;
            await new Promise((resolve, reject) => {
              ctx.res.once('finish', resolve);
              server.web(ctx.req, ctx.res, { target }, reject);
            });
          }),
        );
      }
      if (spec.route) {
        const route = spec.route;
        app.use(async (ctx, next) => {
          if (ctx.path !== '/route') return next();
          ctx.body = await route(ctx.res);
        });
      }
      const server = await listen(app.callback());
      if (spec.websocket && proxy) server.on('upgrade', proxy.upgrade);
      return running(server, proxy?.proxy, gate?.gate, passedOn, errorEvents);
    },
  };
}

export const adapters: Adapter[] = [
  expressAdapterFor('Express 5', express5, 5),
  expressAdapterFor('Express 4', express4, 4),
  koaAdapterFor('Koa 3', Koa3),
  koaAdapterFor('Koa 2', Koa2),
];
