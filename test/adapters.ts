/**
 * The adapters under test, each built the way a user builds an app: the same scenarios run over every one of them
 * (`describe.each(adapters)`), so Express and Koa keep the same behaviour by construction.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import * as expressAdapter from '@gateway-errors/express';
import * as koaAdapter from '@gateway-errors/koa';
import express5 from 'express';
import express4 from 'express4';
import Koa3 from 'koa';
import mount from 'koa-mount';
import Koa2 from 'koa2';

/** What a scenario asks of the app. */
export interface AppSpec {
  /** Mount `gatewayProxy(proxy)` at `/api`. */
  proxy?: expressAdapter.GatewayProxyOptions;
  /** Options of `gatewayErrors()`, or `false` to mount none. */
  errors?: expressAdapter.GatewayErrorsOptions | false;
  /** A route at `/route` whose handler throws what this returns (a real failing call, usually). */
  route?: () => Promise<unknown>;
  /** Headers an earlier middleware sets on every response (security, CORS, a stale ETag). */
  earlyHeaders?: Record<string, string>;
}

export interface RunningApp {
  url: string;
  server: Server;
  proxy?: expressAdapter.GatewayProxy;
  close(): Promise<void>;
}

export interface Adapter {
  name: string;
  start(spec: AppSpec): Promise<RunningApp>;
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function running(server: Server, proxy?: expressAdapter.GatewayProxy): Promise<RunningApp> {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    proxy,
    async close() {
      proxy?.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function expressAdapterFor(name: string, express: typeof express5): Adapter {
  return {
    name,
    async start(spec) {
      const app = express();
      if (spec.earlyHeaders) {
        const headers = spec.earlyHeaders;
        app.use((_req, res, next) => {
          res.set(headers);
          next();
        });
      }
      const proxy = spec.proxy ? expressAdapter.gatewayProxy(spec.proxy) : undefined;
      if (proxy) app.use('/api', proxy);
      if (spec.route) {
        const route = spec.route;
        // Express 4 does not catch rejected promises: pass them to next, as Express 4 users do.
        app.get('/route', (_req, res, next) => {
          route().then((value) => res.json(value), next);
        });
      }
      if (spec.errors !== false) app.use(expressAdapter.gatewayErrors(spec.errors));
      return running(await listen(app), proxy?.proxy);
    },
  };
}

function koaAdapterFor(name: string, Koa: typeof Koa3): Adapter {
  return {
    name,
    async start(spec) {
      const app = new Koa();
      app.silent = true;
      if (spec.errors !== false) app.use(koaAdapter.gatewayErrors({ ...spec.errors, emitError: false }));
      if (spec.earlyHeaders) {
        const headers = spec.earlyHeaders;
        app.use(async (ctx, next) => {
          ctx.set(headers);
          await next();
        });
      }
      const proxy = spec.proxy ? koaAdapter.gatewayProxy(spec.proxy) : undefined;
      if (proxy) app.use(mount('/api', proxy));
      if (spec.route) {
        const route = spec.route;
        app.use(async (ctx, next) => {
          if (ctx.path !== '/route') return next();
          ctx.body = await route();
        });
      }
      return running(await listen(app.callback()), proxy?.proxy);
    },
  };
}

export const adapters: Adapter[] = [
  expressAdapterFor('Express 5', express5),
  expressAdapterFor('Express 4', express4),
  koaAdapterFor('Koa 3', Koa3),
  koaAdapterFor('Koa 2', Koa2),
];
