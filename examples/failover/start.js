// Starts three backends (a, b, c) on ports 4001 to 4003 and the gateway in front of them on port 3000, with two
// routes to stop and start a backend. See README.md.
import { createServer } from 'node:http';
import express from 'express';
import { createGateway } from './app.js';
import { startBackend } from './backends.js';

const backends = await Promise.all(['a', 'b', 'c'].map((name, i) => startBackend(name, 4001 + i)));
const { app: gateway } = createGateway({ targets: backends.map((backend) => backend.url) });

// `POST /backends/b/stop` and `/backends/b/start`: what a crash and a restart would do. Mounted before the gateway;
// never expose such routes in a real deployment.
const app = express();
app.post('/backends/:name/:action', async (req, res) => {
  const backend = backends.find(({ name }) => name === req.params.name);
  if (backend === undefined || (req.params.action !== 'stop' && req.params.action !== 'start')) {
    res.status(404).type('text').send('try /backends/a/stop or /backends/a/start (a, b or c)\n');
    return;
  }
  if (req.params.action === 'stop') backend.stop();
  else await backend.start();
  res.type('text').send(`backend ${backend.name} ${req.params.action === 'stop' ? 'stopped' : 'started'}\n`);
});
app.use(gateway);

const port = Number(process.env.PORT ?? 3000);
const server = createServer(app).listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`Gateway on ${base}/ in front of ${backends.map((b) => `${b.name} (${b.url})`).join(', ')}. Try:
  for i in 1 2 3; do curl -s ${base}/; done     a, b and c in turn
  curl -X POST ${base}/backends/b/stop          then the same loop: a and c only, and the logs below
  curl -X POST ${base}/backends/b/start         within 2 s b is back in rotation
(Ctrl-C to stop)`);
});
server.on('error', (error) => {
  console.error(error.code === 'EADDRINUSE' ? `Port ${port} is taken: try PORT=3100 pnpm start` : error);
  process.exit(1);
});
