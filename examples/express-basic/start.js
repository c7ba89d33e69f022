// Starts the app in front of stand-ins from @gateway-errors/testing: /api in front of an upstream with one fault per
// path (/api/fast answers, /api/reset resets, /api/hang never answers...), /me calling a users service that is down.
import { createServer } from 'node:http';
import { chaosUpstream, refusingUpstream } from '@gateway-errors/testing';
import { createApp } from './app.js';

const api = await chaosUpstream();
const users = await refusingUpstream();
const app = createApp({ apiUrl: api.url, usersUrl: users.url, timeout: 2000 });

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Express app on ${base}/ (Ctrl-C to stop). Try:
  curl -i ${base}/api/fast          200 from the API
  curl -i ${base}/api/reset         502 connection_terminated
  curl -i ${base}/api/hang          504 http_response_timeout, after 4 s (2 s, and a GET is retried once)
  curl -i ${base}/me                502 connection_refused: the users service is down
  curl -i ${base}/bug               500 from our own error handler`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
