// Starts the gateway in front of stand-ins from @gateway-errors/testing: a users service with one fault per path
// (/fast answers, /reset resets, /hang never answers, /garbage is not HTTP...), an orders service that answers its
// own 503 with Retry-After: 120, and a billing service where nothing listens.
import { createServer } from 'node:http';
import { chaosUpstream, refusingUpstream, statusUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const users = await chaosUpstream();
const orders = await statusUpstream({
  status: 503,
  retryAfter: '120',
  headers: { 'content-type': 'text/html' },
  body: '<h1>orders: down for a reindex</h1>\n',
});
const billing = await refusingUpstream();
const app = createApp({ usersUrl: users.url, ordersUrl: orders.url, billingUrl: billing.url, timeout: 2000 });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  const json = "-H 'Accept: application/json'";
  console.log(`API gateway on ${base}/ (Ctrl-C to stop). Try:
  curl -i ${base}/v1/users/fast                  200 from the users service
  curl -i ${json} ${base}/v1/users/reset      502 connection_terminated, problem+json
  curl -i ${json} ${base}/v1/users/hang       504 http_response_timeout, after 4 s
  curl -i ${json} ${base}/v1/orders/42        503 with the service's Retry-After: 120, problem+json
  curl -i ${json} ${base}/v1/billing/invoices 502 connection_refused; again: 503, the circuit is open
Open ${base}/v1/users/reset in a browser for the HTML page.`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
