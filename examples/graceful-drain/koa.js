// The same recipe with Koa: SIGTERM -> stop accepting -> drain -> the process exits by itself.
import { gatewayErrors, gatewayProxy } from '@gateway-errors/koa';
import Koa from 'koa';
import mount from 'koa-mount';

const api = gatewayProxy({
  target: process.env.UPSTREAM ?? 'http://127.0.0.1:4000',
  healthCheck: { path: '/', interval: 5000 },
});
const app = new Koa();
app.use(gatewayErrors());
app.use(mount('/api', api));

const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  console.log(`koa gateway on http://127.0.0.1:${server.address().port}/api (pid ${process.pid})`);
});
server.on('upgrade', api.upgrade);

process.once('SIGTERM', async () => {
  server.close();
  console.log('draining');
  const drained = api.proxy.drain({ deadline: 25_000 });
  console.log(`drained: ${JSON.stringify(await drained)}`);
});
