// @ts-check
import { gatewayErrors, gatewayProxy } from '@gateway-errors/koa';
import Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';

/**
 * A Koa gateway: one API under koa-mount, a search service under @koa/router, and a 503 of your own.
 * @param {{ apiUrl: string, searchUrl: string, timeout?: number, log?: (line: string) => void }} options
 *   `apiUrl`, `searchUrl`: the upstreams; `timeout`: milliseconds to wait for an answer; `log`: where failures go.
 */
export function createApp({ apiUrl, searchUrl, timeout = 5000, log = console.warn }) {
  const app = new Koa();
  const timeouts = { connect: 2000, response: timeout };

  // First: gatewayErrors() wraps everything below it and answers the gateway failures they throw.
  app.use(gatewayErrors({ locals: { siteName: 'Acme' } }));

  // koa-mount strips its path: /api/users/7 goes to the API's /users/7.
  app.use(mount('/api', gatewayProxy({ target: apiUrl, timeouts })));

  const router = new Router();
  // @koa/router forwards the full path: /search/books?q=koa goes to the search service's /search/books?q=koa.
  router.all('/search/{*rest}', gatewayProxy({ target: searchUrl, timeouts }));
  // A 503 of your own: ctx.throw is enough, and its Retry-After is kept (Koa's own error handler would drop it).
  router.get('/reports', (ctx) => {
    ctx.throw(503, 'reports are rebuilt at night', { headers: { 'Retry-After': '600' } });
  });
  app.use(router.routes());

  // Each gateway failure is still an `error` event of the app, for your logs (the page shows nothing internal).
  app.on('error', (error, ctx) => {
    log(`${ctx.method} ${ctx.originalUrl}: ${error.status} ${error.failure?.type ?? error.message}`);
  });
  return app;
}
