// @ts-check
import { createServer } from 'node:http';

/**
 * @typedef {object} Backend
 * @property {string} name
 * @property {string} url `http://127.0.0.1:<port>`, the same after a stop and a start.
 * @property {boolean} up Whether it listens.
 * @property {number} healthChecks How many `/health` requests it answered.
 * @property {Record<string, number>} served Requests answered, by path (health checks apart).
 * @property {() => void} stop Stops listening: new connections are refused, as when the process is gone; a request
 *   it is answering still gets its answer, and its connections close.
 * @property {() => Promise<void>} start Listens again, on the same port.
 * @property {() => Promise<void>} close Stops it for good, cutting every connection.
 */

/**
 * One backend of the example: it answers every path with its name, and `GET /health` with 200 while it runs (what
 * the gateway's health checks ask for).
 * @param {string} name
 * @param {number} port 0 for a free port; `start()` after a `stop()` listens on the same one again.
 * @returns {Promise<Backend>}
 */
export async function startBackend(name, port = 0) {
  /** @type {import('node:http').Server | undefined} */
  let server;
  /** @type {Backend} */
  const backend = {
    name,
    url: '',
    up: false,
    healthChecks: 0,
    served: {},
    stop() {
      backend.up = false;
      server?.close();
      server?.closeIdleConnections();
    },
    async start() {
      if (backend.up) return;
      const listening = createServer((req, res) => {
        // Stopped while answering: this answer is the connection's last.
        if (!backend.up) res.setHeader('connection', 'close');
        if (req.url === '/health') {
          backend.healthChecks++;
          res.end('ok\n');
          return;
        }
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        backend.served[path] = (backend.served[path] ?? 0) + 1;
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(`hello from backend ${name}: ${req.method} ${req.url}\n`);
      });
      await new Promise((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(port, '127.0.0.1', () => resolve(undefined));
      });
      server = listening;
      port = /** @type {import('node:net').AddressInfo} */ (listening.address()).port;
      backend.url = `http://127.0.0.1:${port}`;
      backend.up = true;
    },
    async close() {
      backend.up = false;
      if (server === undefined) return;
      server.closeAllConnections();
      await new Promise((resolve) => server?.close(() => resolve(undefined)));
    },
  };
  await backend.start();
  return backend;
}
