// Starts the app in front of an upstream with one fault per path, from @gateway-errors/testing: /legacy/fast answers,
// /legacy/reset resets, /legacy/hang never answers...
import { createServer } from 'node:http';
import { chaosUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const legacy = await chaosUpstream();
const { app } = createApp({ target: legacy.url, timeout: 2000 });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Express app with its own http-proxy on ${base}/ (Ctrl-C to stop). Try:
  curl -i ${base}/legacy/fast       200 from the upstream
  curl -i ${base}/legacy/reset      502 connection_terminated
  curl -i ${base}/legacy/garbage    502 http_protocol_error
  curl -i ${base}/legacy/hang       504 http_response_timeout, after 2 s
  curl -i ${base}/legacy/503        the upstream's own 503, passed through`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
