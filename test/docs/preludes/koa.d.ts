// What a snippet in a page marked `<!-- snippets: koa -->` may use without declaring it: the Koa app (and an
// @koa/router router) it is written into, koa-mount, and the Koa adapter's three middleware.
import type * as adapter from '@gateway-errors/koa';
import type Router from '@koa/router';
import type Koa from 'koa';
import type koaMount from 'koa-mount';

declare global {
  const app: Koa;
  const router: Router;
  const mount: typeof koaMount;
  const gatewayErrors: typeof adapter.gatewayErrors;
  const gatewayProxy: typeof adapter.gatewayProxy;
  const maintenance: typeof adapter.maintenance;
}
