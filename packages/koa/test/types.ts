// Type tests, checked by `tsc -p tsconfig.test.json` (never run): the adapter's middleware fits @types/koa 3,
// koa-mount and @koa/router without a cast, as users write them.
import {
  type GatewayErrorsOptions,
  type GatewayProxyMiddleware,
  gatewayErrors,
  gatewayProxy,
  maintenance,
  ServiceUnavailableError,
} from '@gateway-errors/koa';
import Router from '@koa/router';
import Koa, { type Middleware } from 'koa';
import mount from 'koa-mount';

const app = new Koa();
const errorOptions: GatewayErrorsOptions = {
  templates: './views/errors',
  emitError: false,
  locals: { siteName: 'Acme' },
};
app.use(gatewayErrors(errorOptions));
app.use(gatewayErrors());
const down = maintenance({ enabled: () => false, until: '2026-12-01T06:00:00Z', allow: { paths: ['/health'] } });
app.use(down);
down.gate.until = undefined;
const api: GatewayProxyMiddleware = gatewayProxy({
  target: 'http://127.0.0.1:4000',
  timeouts: { connect: 2000, response: 15000, idle: 30000 },
});
app.use(api);
app.use(mount('/api', gatewayProxy({ target: 'http://127.0.0.1:4000' })));
app.use(async (ctx, next) => {
  if (ctx.path === '/maintenance') throw new ServiceUnavailableError({ retryAfter: 120 });
  ctx.throw(503, { headers: { 'Retry-After': '30' } });
  await next();
});

const router = new Router();
router.all('/files/{*rest}', gatewayProxy({ target: 'http://127.0.0.1:4001' }));
app.use(router.routes());

// They are Koa middleware in Koa's own types too.
const asMiddleware: Middleware = gatewayErrors();
void asMiddleware;

api.proxy.on('failure', (event) => {
  const status: number = event.failure.status;
  void [status, event.headSent, event.upstream];
});

// Mistakes the types catch.
// @ts-expect-error: emitError is a boolean
gatewayErrors({ emitError: 'yes' });
// @ts-expect-error: target is required
gatewayProxy({ timeouts: { connect: 2000 } });
