// The demo: an Express gateway and a Koa gateway, each in front of upstreams that fail in every way the testing kit
// knows. Open the printed URL in a browser, or try `curl -i` and `curl -i -H 'Accept: application/json'`.
import { createServer } from 'node:http';
import * as ge from '@gateway-errors/express';
import * as gk from '@gateway-errors/koa';
import * as kit from '@gateway-errors/testing';
import express from 'express';
import Koa from 'koa';
import mount from 'koa-mount';

const scenarios = [
  ['healthy', 'a healthy upstream (echoes the request)', () => kit.echoUpstream()],
  ['refused', 'nothing listens: 502 connection_refused', () => kit.refusingUpstream()],
  ['reset', 'resets the connection after the request: 502 connection_terminated', () => kit.resetAfterRequest()],
  ['hang', 'never answers: 504 http_response_timeout after 2 s (one retry, 2 s each)', () => kit.hangingUpstream()],
  ['garbage', 'answers bytes that are not HTTP: 502 http_protocol_error', () => kit.garbageUpstream()],
  ['bad-header', 'a control character in a header: 502 http_protocol_error', () => kit.badHeaderUpstream()],
  ['huge-head', 'a 32 KiB response head: 502 http_response_header_section_size', () => kit.oversizedHeadUpstream()],
  ['mid-body', 'dies in the middle of the body: the connection is aborted', () => kit.dieMidBodyUpstream()],
  [
    'unavailable',
    'its own 503 with Retry-After: 120, passed through',
    () => kit.statusUpstream({ status: 503, retryAfter: '120' }),
  ],
  [
    'intercepted',
    'its own 503, rendered as our page (intercept: true)',
    () => kit.statusUpstream({ status: 503, retryAfter: '120' }),
  ],
  ['bad-tls', 'HTTPS with a self-signed certificate: 502 tls_certificate_error', () => kit.tlsUpstream()],
  ['flaky', 'fails the first request of each path, then 200: the retry hides it', () => kit.flakyUpstream()],
];

const upstreams = await Promise.all(scenarios.map(([, , start]) => start()));
const options = (name, upstream) => ({
  target: upstream.url,
  timeouts: { connect: 2000, response: 2000, idle: 5000 },
  intercept: name === 'intercepted',
});
const locals = { siteName: 'gateway-errors demo', statusPageUrl: '/' };

function indexPage(framework) {
  const rows = scenarios
    .map(([name, description]) => `<li><a href="/${name}/hello">/${name}/hello</a>: ${description}</li>`)
    .join('\n');
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>gateway-errors demo (${framework})</title><body style="font:16px/1.6 system-ui;max-width:48rem;margin:2rem auto;padding:0 1rem">
<h1>gateway-errors demo: ${framework}</h1><p>Each path is proxied to an upstream that behaves as described.
Browsers get the HTML page; try <code>curl -i -H 'Accept: application/json'</code> for problem+json, plain
<code>curl -i</code> for text, and <code>-H 'Accept-Language: fr'</code> for another language.</p>
<ul>${rows}</ul></body></html>`;
}

// Express: one gatewayProxy per scenario, gatewayErrors() after the routes.
const app = express();
app.get('/', (_req, res) => res.type('html').send(indexPage('Express')));
for (const [i, [name]] of scenarios.entries()) app.use(`/${name}`, ge.gatewayProxy(options(name, upstreams[i])));
app.use(ge.gatewayErrors({ locals }));

// Koa: gatewayErrors() first, it wraps everything below.
const koa = new Koa();
koa.silent = true;
koa.use(gk.gatewayErrors({ locals }));
koa.use(async (ctx, next) => {
  if (ctx.path !== '/') return next();
  ctx.type = 'html';
  ctx.body = indexPage('Koa');
});
for (const [i, [name]] of scenarios.entries()) koa.use(mount(`/${name}`, gk.gatewayProxy(options(name, upstreams[i]))));

function listen(handler, port) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.once('error', () => server.listen(0, '127.0.0.1')); // the port is taken: any free one will do
    server.once('listening', () => resolve(server));
    server.listen(port, '127.0.0.1');
  });
}

const basePort = Number(process.env.PORT ?? 3000);
const expressServer = await listen(app, basePort);
const koaServer = await listen(koa.callback(), basePort + 1);
console.log(`Express gateway: http://127.0.0.1:${expressServer.address().port}/`);
console.log(`Koa gateway:     http://127.0.0.1:${koaServer.address().port}/`);
console.log('Ctrl-C to stop.');

process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
