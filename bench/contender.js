// One contender: a gateway in front of UPSTREAM, built the way its users build it. Run as a child process so that
// each has its own event loop and heap; reports its port, and its CPU time and RSS on request, over IPC.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// TREE (optional, used by `pnpm bench:ab`): another checkout whose build and dependencies to load instead of ours.
// A name ending in `+copies` is ours with stale-if-error on (`staleIfError: true`): it keeps copies of good answers.
const [given, upstream, mode, tree] = process.argv.slice(2);
const copies = given.endsWith('+copies');
const name = copies ? given.slice(0, -'+copies'.length) : given;
const fromTree = tree === undefined ? undefined : createRequire(join(tree, 'package.json'));
/** A framework, or one of our adapters (`@gateway-errors/express`), from TREE when given. */
function load(specifier) {
  if (fromTree === undefined) return import(specifier);
  const ours = /^@gateway-errors\/(\w+)$/.exec(specifier);
  const file = ours ? join(tree, 'packages', ours[1], 'dist', 'index.js') : fromTree.resolve(specifier);
  return import(pathToFileURL(file).href);
}
const plain502 = (res) => {
  if (res.headersSent) return res.destroy();
  res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 12 });
  res.end('Bad Gateway\n');
};
// "error" mode: every request must try the refusing upstream and render the page, so ours runs without its breaker
// (which would otherwise open and answer without trying). "breaker" mode: the breaker opens after the warm-up and
// stays open for the whole run. The happy path runs with every default.
const resilience = {
  happy: {},
  error: { breaker: false },
  breaker: { breaker: { consecutiveFailures: 5, openFor: 600_000, maxOpenFor: 600_000, jitter: 0 } },
}[mode];
if (copies) resilience.staleIfError = true;

async function build() {
  switch (name) {
    case 'express+gateway-errors': {
      const { default: express } = await load('express');
      const { gatewayProxy, gatewayErrors } = await load('@gateway-errors/express');
      const app = express();
      app.use(gatewayProxy({ target: upstream, retry: false, ...resilience }));
      app.use(gatewayErrors());
      return app;
    }
    // The same gateway with shared state: maintenance({ store }) and gatewayProxy({ store }) on a Redis, against the
    // same on the in-memory store. Neither asks its store anything on the happy path: the ratio says so.
    case 'express+gateway-errors+memory-store':
    case 'express+gateway-errors+redis-store': {
      const { default: express } = await load('express');
      const { gatewayProxy, gatewayErrors, maintenance } = await load('@gateway-errors/express');
      const store = name.endsWith('+redis-store')
        ? (await load('@gateway-errors/redis')).redisStore({ url: process.env.BENCH_REDIS_URL, warn: false })
        : (await load('@gateway-errors/core')).memoryStore();
      const app = express();
      app.use(maintenance({ store }));
      app.use(gatewayProxy({ target: upstream, retry: false, store, ...resilience }));
      app.use(gatewayErrors());
      return app;
    }
    case 'express+http-proxy-3': {
      const { default: express } = await load('express');
      const { ProxyServer } = await import('http-proxy-3');
      const { Agent } = await import('node:http');
      const proxy = new ProxyServer({ target: upstream, agent: new Agent({ keepAlive: true }) });
      const app = express();
      app.use((req, res) => proxy.web(req, res, {}, () => plain502(res)));
      return app;
    }
    case 'express+http-proxy-middleware': {
      const { default: express } = await load('express');
      const { createProxyMiddleware } = await import('http-proxy-middleware');
      const { Agent } = await import('node:http');
      const app = express();
      app.use(
        createProxyMiddleware({
          target: upstream,
          agent: new Agent({ keepAlive: true }),
          logger: undefined,
          on: { error: (_err, _req, res) => plain502(res) },
        }),
      );
      return app;
    }
    case 'koa+gateway-errors': {
      const { default: Koa } = await load('koa');
      const { gatewayProxy, gatewayErrors } = await load('@gateway-errors/koa');
      const app = new Koa();
      app.silent = true;
      app.use(gatewayErrors({ emitError: false }));
      app.use(gatewayProxy({ target: upstream, retry: false, ...resilience }));
      return app.callback();
    }
    case 'koa+http-proxy-3': {
      const { default: Koa } = await load('koa');
      const { ProxyServer } = await import('http-proxy-3');
      const { Agent } = await import('node:http');
      const proxy = new ProxyServer({ target: upstream, agent: new Agent({ keepAlive: true }) });
      const app = new Koa();
      app.use((ctx) => {
        ctx.respond = false;
        return new Promise((resolve) => {
          ctx.res.once('close', resolve);
          proxy.web(ctx.req, ctx.res, {}, () => plain502(ctx.res));
        });
      });
      return app.callback();
    }
    case 'koa+koa-proxies': {
      const { default: Koa } = await load('koa');
      const { default: proxies } = await import('koa-proxies');
      const { Agent } = await import('node:http');
      const app = new Koa();
      app.silent = true;
      app.use(proxies('/', { target: upstream, agent: new Agent({ keepAlive: true }), logs: false }));
      return app.callback();
    }
    case 'node:http+core': {
      const { createProxy, createErrorResponder } = await import('@gateway-errors/core');
      const proxy = createProxy({ target: upstream, retry: false, ...resilience });
      const errors = createErrorResponder();
      return async (req, res) => {
        const error = await proxy.forward(req, res);
        if (error) errors.send(error.failure, req, res);
      };
    }
    default:
      throw new Error(`unknown contender ${name}`);
  }
}

const server = createServer(await build());
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('message', (message) => {
  if (message === 'cpu') {
    // This process's own CPU time (user + system, microseconds): what the gateway itself spent, whatever the load
    // generator and the other processes on the machine did meanwhile.
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: user + system });
  }
  if (message === 'rss') {
    globalThis.gc?.();
    process.send?.({ rss: process.memoryUsage().rss });
  }
});
process.on('disconnect', () => process.exit(0));
