// A gateway that drains on SIGTERM, as a rolling deploy needs: stop accepting, let what is in flight finish, tell
// everyone else to go elsewhere, then exit by itself. UPSTREAM (default http://127.0.0.1:4000) is proxied under /api.
import { gatewayErrors, gatewayProxy } from '@gateway-errors/express';
import express from 'express';

const api = gatewayProxy({
  target: process.env.UPSTREAM ?? 'http://127.0.0.1:4000',
  healthCheck: { path: '/', interval: 5000 },
});
const app = express();
app.use('/api', api);
app.use(gatewayErrors());

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`express gateway on http://127.0.0.1:${server.address().port}/api (pid ${process.pid})`);
});
server.on('upgrade', api.upgrade);

process.once('SIGTERM', async () => {
  // 1. No new connections. Connections already open stay: their next request meets the drain.
  server.close();
  // 2. Requests in flight finish (each closes its connection after its answer); new ones get 503 with Connection:
  //    close and Retry-After; WebSockets get 1001 Going Away; health checks stop; then the upstream connections close.
  console.log('draining');
  const drained = api.proxy.drain({ deadline: 25_000 });
  // 3. Nothing is left: no timer, no socket. The process exits by itself, with code 0.
  console.log(`drained: ${JSON.stringify(await drained)}`);
});
