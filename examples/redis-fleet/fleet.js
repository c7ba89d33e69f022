// Two gateway instances in front of one upstream, sharing their state through one Redis: an Express one and a Koa
// one, each with its own Redis connection, as two pods behind a load balancer would be. Started by server.js, and by
// the example's smoke test.
import { createServer } from 'node:http';
import * as forExpress from '@gateway-errors/express';
import * as forKoa from '@gateway-errors/koa';
import { redisStore } from '@gateway-errors/redis';
import express from 'express';
import Koa from 'koa';

function listen(handler, port) {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

function urlOf(server) {
  return `http://127.0.0.1:${server.address().port}`;
}

/**
 * The upstream: a page, a robots.txt and a /health route. `POST /__down` makes it answer 503 to everything (a
 * deploy gone wrong), `POST /__up` brings it back; it counts its health checks.
 */
async function startUpstream(port) {
  const upstream = { down: false, healthChecks: 0 };
  upstream.server = await listen((req, res) => {
    if (req.method === 'POST' && (req.url === '/__down' || req.url === '/__up')) {
      upstream.down = req.url === '/__down';
      res.end(`upstream ${upstream.down ? 'down' : 'up'}\n`);
      return;
    }
    if (req.url === '/health') upstream.healthChecks++;
    if (upstream.down) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '30' });
      res.end('upstream says 503\n');
      return;
    }
    if (req.url === '/robots.txt') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('User-agent: *\nDisallow: /private\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from the upstream: ${req.method} ${req.url}\n`);
  }, port);
  return upstream;
}

/**
 * What both instances are given: the same store options, the same proxy. `POST /admin/maintenance?on=1` (or `on=0`)
 * switches maintenance on this instance, which every instance then applies; it is mounted before the gate, so that
 * it still answers during maintenance. Keep such a route private in a real deployment.
 */
function proxyOptions(target, store) {
  return {
    target,
    store,
    retry: false,
    healthCheck: { path: '/health', interval: 2000, timeout: 1000 },
  };
}

function switchOf(gate, url) {
  const on = new URL(url, 'http://x').searchParams.get('on');
  if (on === '1' || on === '0') gate.enabled = on === '1';
  return `maintenance ${gate.enabled ? 'on' : 'off'}\n`;
}

async function startExpress(redisUrl, target, port) {
  const store = redisStore({ url: redisUrl });
  const down = forExpress.maintenance({ store });
  const app = express();
  app.post('/admin/maintenance', (req, res) => res.type('text').send(switchOf(down.gate, req.url)));
  app.use(down);
  const proxy = forExpress.gatewayProxy(proxyOptions(target, store));
  app.use(proxy);
  app.use(forExpress.gatewayErrors({ locals: { siteName: 'fleet example (Express)' } }));
  const server = await listen(app, port);
  return { name: 'express', url: urlOf(server), gate: down.gate, proxy: proxy.proxy, store, server };
}

async function startKoa(redisUrl, target, port) {
  const store = redisStore({ url: redisUrl });
  const down = forKoa.maintenance({ store });
  const app = new Koa();
  app.use(forKoa.gatewayErrors({ locals: { siteName: 'fleet example (Koa)' } }));
  app.use(async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/admin/maintenance') return next();
    ctx.type = 'text';
    ctx.body = switchOf(down.gate, ctx.url);
  });
  app.use(down);
  const proxy = forKoa.gatewayProxy(proxyOptions(target, store));
  app.use(proxy);
  const server = await listen(app.callback(), port);
  return { name: 'koa', url: urlOf(server), gate: down.gate, proxy: proxy.proxy, store, server };
}

/** Starts the upstream and both instances; `close()` stops everything (the stores' connections included). */
export async function startFleet({ redisUrl = 'redis://127.0.0.1:6379', ports = [0, 0, 0] } = {}) {
  const upstream = await startUpstream(ports[0]);
  const target = urlOf(upstream.server);
  const instances = [await startExpress(redisUrl, target, ports[1]), await startKoa(redisUrl, target, ports[2])];
  return {
    upstream: {
      ...upstream,
      url: target,
      get healthChecks() {
        return upstream.healthChecks;
      },
    },
    instances,
    async close() {
      for (const instance of instances) {
        instance.proxy.close();
        instance.server.closeAllConnections();
        await new Promise((resolve) => instance.server.close(resolve));
        await instance.store.close();
      }
      upstream.server.closeAllConnections();
      await new Promise((resolve) => upstream.server.close(resolve));
    },
  };
}
