// Starts the gateway in maintenance in front of an echo upstream, on port 3000. MAINTENANCE_UNTIL (an ISO date;
// default: 30 minutes from now), MAINTENANCE_TOKEN (the bypass header's secret) and ALLOW_IPS (comma-separated) set
// the window. SIGUSR2 opens or closes it; SIGTERM drains and exits. See README.md.
import { createServer } from 'node:http';
import { echoUpstream } from '@gateway-errors/testing';
import { createGateway, shutdown } from './app.js';

const upstream = await echoUpstream();
const until = process.env.MAINTENANCE_UNTIL ?? new Date(Date.now() + 30 * 60_000).toISOString();
const bypassToken = process.env.MAINTENANCE_TOKEN ?? 'operators-only-4f9c2a';
const allowIps = (process.env.ALLOW_IPS ?? '').split(',').filter(Boolean);
const { app, gate, proxy } = createGateway({ target: upstream.url, until, bypassToken, allowIps });

gate.on('change', ({ enabled }) => console.log(`maintenance ${enabled ? 'on' : 'off'}`));
process.on('SIGUSR2', () => {
  gate.enabled = !gate.enabled;
});

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Gateway on ${base}/ (pid ${process.pid}), in maintenance until ${until}. Try:
  curl -i ${base}/                                                503, Retry-After until then
  curl -i -H 'X-Maintenance-Bypass: ${bypassToken}' ${base}/      200: an operator
  curl -i ${base}/status                                          200: the load balancer's check
  kill -USR2 ${process.pid}                                       opens (or closes) the site
  kill -TERM ${process.pid}                                       drains, then exits`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});

process.once('SIGTERM', async () => {
  console.log('SIGTERM: draining');
  console.log(`drained: ${JSON.stringify(await shutdown(server, proxy))}`);
  await upstream.close(); // the stand-in upstream lives in this process; yours would not
});
