// Starts the app in front of stand-ins from @gateway-errors/testing: /api in front of an upstream with one fault per
// path (/api/fast answers, /api/reset resets, /api/hang never answers...), /search in front of an echo.
import { createServer } from 'node:http';
import { chaosUpstream, echoUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const api = await chaosUpstream();
const search = await echoUpstream();
const app = createApp({ apiUrl: api.url, searchUrl: search.url, timeout: 2000 });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app.callback()).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Koa app on ${base}/ (Ctrl-C to stop). Try:
  curl -i ${base}/api/fast              200 from the API (koa-mount strips /api)
  curl -i ${base}/api/garbage           502 http_protocol_error
  curl -i ${base}/search/books?q=koa    200: the echo shows the full path (@koa/router)
  curl -i ${base}/reports               503 with Retry-After: 600, from ctx.throw
Each gateway failure is logged here, from the app's error event.`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
