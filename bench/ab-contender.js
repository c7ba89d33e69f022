// One side of `pnpm bench:ab`: our gateway for FRAMEWORK, built from the checkout at TREE (its own packages and
// dependencies), in front of UPSTREAM. Reports its port, and its CPU time on request, over IPC.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [tree, framework, upstream, scenario] = process.argv.slice(2);
// Each side loads its own copy: the adapter from that tree, the framework from that tree's dependencies.
const fromTree = createRequire(join(tree, 'package.json'));
const adapter = await import(pathToFileURL(join(tree, 'packages', framework, 'dist', 'index.js')).href);
// The error path tries the refusing upstream every time: no breaker to open.
const options = { target: upstream, retry: false, ...(scenario === 'error' ? { breaker: false } : {}) };

let handler;
if (framework === 'koa') {
  const { default: Koa } = await import(pathToFileURL(fromTree.resolve('koa')).href);
  const app = new Koa();
  app.silent = true;
  app.use(adapter.gatewayErrors({ emitError: false }));
  app.use(adapter.gatewayProxy(options));
  handler = app.callback();
} else {
  const { default: express } = await import(pathToFileURL(fromTree.resolve('express')).href);
  const app = express();
  app.use(adapter.gatewayProxy(options));
  app.use(adapter.gatewayErrors());
  handler = app;
}

const server = createServer(handler);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
process.on('message', (message) => {
  if (message === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send?.({ cpu: user + system });
  }
});
process.on('disconnect', () => process.exit(0));
