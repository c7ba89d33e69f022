// Starts the app in front of an upstream with one fault per path, from @gateway-errors/testing: /api/fast answers,
// /api/reset resets, /api/hang never answers...
import { createServer } from 'node:http';
import { chaosUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const api = await chaosUpstream();
const app = createApp({ target: api.url, timeout: 2000 });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Express app with http-proxy-middleware on ${base}/ (Ctrl-C to stop). Try:
  curl -i ${base}/api/fast       200 from the upstream
  curl -i ${base}/api/reset      502 connection_terminated
  curl -i ${base}/api/garbage    502 http_protocol_error
  curl -i ${base}/api/hang       504 http_response_timeout, after 2 s
  curl -i ${base}/api/503        the upstream's own 503, passed through`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
