// Type tests, checked by `tsc -p tsconfig.test.json` (never run): the adapter's handlers fit @types/express 5
// without a cast, as users write them.
import {
  type GatewayErrorsOptions,
  type GatewayProxyMiddleware,
  type GatewayProxyOptions,
  gatewayErrors,
  gatewayProxy,
  type MaintenanceMiddleware,
  maintenance,
  ServiceUnavailableError,
} from '@gateway-errors/express';
import express, { type ErrorRequestHandler, type RequestHandler, Router } from 'express';

const app = express();
const down: MaintenanceMiddleware = maintenance({
  enabled: () => false,
  until: new Date('2026-12-01T06:00:00Z'),
  allow: {
    paths: ['/health', /^\/status/],
    ips: ['10.0.0.5'],
    header: { name: 'x-bypass', value: 'a-long-secret-token' },
  },
});
app.use(down);
down.gate.enabled = true;
const proxyOptions: GatewayProxyOptions = {
  target: 'http://127.0.0.1:4000',
  timeouts: { connect: 2000, response: 15000, idle: 30000 },
  intercept: [502, 503],
  retry: { retries: 1 },
};
const api: GatewayProxyMiddleware = gatewayProxy(proxyOptions);
app.use('/api', api);
app.use(gatewayProxy({ target: new URL('https://api.internal/v1'), tls: { rejectUnauthorized: true } }));
app.all('/files/*rest', gatewayProxy({ target: 'http://127.0.0.1:4001' }));
app.get('/me', async (_req, res) => {
  res.json(await (await fetch('http://127.0.0.1:4002/me')).json());
});
app.get('/maintenance', () => {
  throw new ServiceUnavailableError({ retryAfter: 120 });
});

const router = Router();
router.use('/api', gatewayProxy({ target: 'http://127.0.0.1:4000' }));
router.use(gatewayErrors());
app.use(router);

const errorOptions: GatewayErrorsOptions = {
  templates: './views/errors',
  locals: { siteName: 'Acme', statusPageUrl: 'https://status.acme.example' },
  retryAfter: { min: 1, max: 3600, hint: 10 },
  allErrors: false,
};
app.use(gatewayErrors(errorOptions));
app.use(gatewayErrors());

// They are Express handlers in Express's own types too.
const asErrorHandler: ErrorRequestHandler = gatewayErrors();
const asHandler: RequestHandler = gatewayProxy({ target: 'http://127.0.0.1:4000' });
void asErrorHandler;
void asHandler;

api.proxy.on('failure', (event) => {
  const status: number = event.failure.status;
  const type: string | undefined = event.failure.type;
  const retried: boolean = event.willRetry;
  void [status, type, retried, event.requestId, event.timings.connect];
});
api.proxy.on('abort', (event) => {
  const status: 499 | 408 = event.status;
  const stalled: 'client-body' | 'client-read' | undefined = event.stalled;
  void [status, stalled];
});

// Mistakes the types catch.
// @ts-expect-error: target is required
gatewayProxy({});
// @ts-expect-error: timeouts are numbers of milliseconds
gatewayProxy({ target: 'http://127.0.0.1:4000', timeouts: { response: '15s' } });
// @ts-expect-error: an unknown option
gatewayErrors({ template: './views' });
