// The gateway under soak, in a process of its own (what is measured): Express or Koa with one gatewayProxy() per chaos
// route (each its own circuit breaker), one for the dead target, and gatewayErrors(). It answers its parent's
// questions over IPC: its RSS, active resources, open connections, the proxies' events and any uncaught error.
import { createServer } from 'node:http';
import * as expressAdapter from '@gateway-errors/express';
import * as koaAdapter from '@gateway-errors/koa';
import express from 'express';
import Koa from 'koa';
import mount from 'koa-mount';
import { breakerOn, routes, timeouts } from './routes.js';

const [adapter, upstreamUrl, deadUrl] = process.argv.slice(2);

const uncaught = [];
process.on('uncaughtException', (error) => uncaught.push(`uncaughtException: ${error?.stack ?? error}`));
process.on('unhandledRejection', (error) => uncaught.push(`unhandledRejection: ${error?.stack ?? error}`));

const events = {};
const count = (name) => {
  events[name] = (events[name] ?? 0) + 1;
};
function watch(proxy) {
  proxy.on('response', (event) => count(`response ${event.status}`));
  proxy.on('failure', (event) => {
    const name = event.failure.type ?? `status ${event.failure.status}`;
    count(`failure ${name}${event.headSent ? ' (after the head)' : ''}${event.willRetry ? ' (retried)' : ''}`);
  });
  proxy.on('abort', (event) => count(`abort ${event.status}${event.stalled ? ` ${event.stalled}` : ''}`));
}

/** Each route's proxy: to the chaos upstream's route, or the dead target; defaults but the timeouts (and breaker). */
const optionsOf = (route) => ({
  target: route.route === 'dead' ? deadUrl : `${upstreamUrl}/${route.route}`,
  timeouts,
  ...(breakerOn(route) ? {} : { breaker: false }),
});

let handler;
if (adapter === 'express') {
  const app = express();
  for (const route of routes) {
    const proxy = expressAdapter.gatewayProxy(optionsOf(route));
    watch(proxy.proxy);
    app.use(route.path, proxy);
  }
  app.use(expressAdapter.gatewayErrors());
  handler = app;
} else if (adapter === 'koa') {
  const app = new Koa();
  app.on('error', () => count('koa error event'));
  app.use(koaAdapter.gatewayErrors());
  for (const route of routes) {
    const proxy = koaAdapter.gatewayProxy(optionsOf(route));
    watch(proxy.proxy);
    app.use(mount(route.path, proxy));
  }
  handler = app.callback();
} else {
  throw new Error(`soak/gateway.js: unknown adapter ${adapter} (express or koa)`);
}

const server = createServer(handler);
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));

/** Active resources by type (`process.getActiveResourcesInfo()`), such as `{ TCPSocketWrap: 3, Timeout: 2 }`. */
function resources() {
  const byType = {};
  for (const type of process.getActiveResourcesInfo()) byType[type] = (byType[type] ?? 0) + 1;
  return byType;
}

/**
 * Full GCs until the memory outside the heap stops falling: V8 frees the memory of dead Buffers on a sweeper thread
 * after a GC returns, so one GC measured at once still counts some of them (tens of MB after a run).
 */
async function collect() {
  let last = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 10; i++) {
    globalThis.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const { external } = process.memoryUsage();
    if (external >= last) return;
    last = external;
  }
}

process.on('message', async (message) => {
  if (message?.stats) {
    if (message.gc) await collect();
    server.getConnections((_error, connections) => {
      const memory = process.memoryUsage();
      process.send?.({
        stats: {
          rss: memory.rss,
          heapUsed: memory.heapUsed,
          external: memory.external,
          arrayBuffers: memory.arrayBuffers,
          resources: resources(),
          connections,
          events: { ...events },
          uncaught: uncaught.slice(0, 5),
          uncaughtCount: uncaught.length,
        },
      });
    });
  } else if (message === 'stop') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
