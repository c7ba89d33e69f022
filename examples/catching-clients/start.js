// Starts the app with two services, stand-ins from @gateway-errors/testing: `api`, with one fault per path (/fast
// answers, /reset resets the connection, /hang never answers, /503 answers its own 503...), and `down`, where nothing
// listens.
import { createServer } from 'node:http';
import { chaosUpstream, refusingUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const api = await chaosUpstream();
const down = await refusingUpstream();
const app = createApp({ services: { api: api.url, down: down.url }, timeout: 2000 });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`The app on ${base}/ (Ctrl-C to stop). For each client (fetch, undici, axios, got), try:
  curl -i ${base}/axios/api/fast      200, the service's answer
  curl -i ${base}/axios/down/forecast 502 connection_refused
  curl -i ${base}/axios/api/reset     502 connection_terminated
  curl -i ${base}/axios/api/hang      504 http_response_timeout, after 2 s`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
