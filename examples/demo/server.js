// The demo: an Express gateway and a Koa gateway, each in front of upstreams that fail in every way the testing kit
// knows, with the diagnostics panel on (development: true) so that each page says what happened, and a line in the
// terminal for every request. `pnpm demo` from the repository's root; PORT=0 takes any free ports.
import { createServer } from 'node:http';
import * as ge from '@gateway-errors/express';
import * as gk from '@gateway-errors/koa';
import * as kit from '@gateway-errors/testing';
import express from 'express';
import Koa from 'koa';
import mount from 'koa-mount';

// The demo is a development tool: the error page preview at /_errors answers only under NODE_ENV=development, so it is
// the default here. Never write this line in an app: NODE_ENV is the deployment's to set.
process.env.NODE_ENV ??= 'development';

const timeouts = { connect: 2000, response: 2000, idle: 5000 };
const maintenanceMinutes = 30;

// name, what happens (the index says it, and it must be true), the upstreams, the proxy's other options
const scenarios = [
  ['healthy', '200: a healthy upstream, which echoes the request as JSON', () => [kit.echoUpstream()]],
  ['refused', '502 connection_refused: nothing listens (retried once first)', () => [kit.refusingUpstream()]],
  ['reset', '502 connection_terminated: the connection is reset after the request', () => [kit.resetAfterRequest()]],
  [
    'hang',
    '504 http_response_timeout after about 4 s: the upstream never answers, a GET is retried once, 2 s each',
    () => [kit.hangingUpstream()],
  ],
  ['garbage', '502 http_protocol_error: the upstream answers bytes that are not HTTP', () => [kit.garbageUpstream()]],
  ['bad-header', '502 http_protocol_error: a control character in a header', () => [kit.badHeaderUpstream()]],
  ['huge-head', '502 http_response_header_section_size: a 32 KiB response head', () => [kit.oversizedHeadUpstream()]],
  [
    'mid-body',
    '200, then the connection is cut: the upstream dies in the middle of the body, so the client sees a truncated ' +
      'response (a browser shows a network error), never a clean end',
    () => [kit.dieMidBodyUpstream()],
  ],
  ['bad-tls', '502 tls_certificate_error: HTTPS with a self-signed certificate', () => [kit.tlsUpstream()]],
  [
    'unavailable',
    "503 with Retry-After: 120: the upstream's own 503 and body, passed through",
    () => [kit.statusUpstream({ status: 503, retryAfter: '120' })],
  ],
  [
    'intercepted',
    "503 with Retry-After: 120: the upstream's own 503, answered with our page (intercept: true)",
    () => [kit.statusUpstream({ status: 503, retryAfter: '120' })],
    { intercept: true },
  ],
  ['flaky', '200: the upstream resets the first request of each path; the retry hides it', () => [kit.flakyUpstream()]],
  [
    'failover',
    '200: two targets, the first refuses; the retry goes to the second',
    () => [kit.refusingUpstream(), kit.echoUpstream()],
  ],
  [
    'maintenance',
    `503 proxy_internal_response: maintenance() on this path, until ${maintenanceMinutes} minutes after the demo started`,
    () => [kit.echoUpstream()],
  ],
];

const upstreams = await Promise.all(scenarios.map(([, , start]) => Promise.all(start())));
const maintenanceUntil = new Date(Date.now() + maintenanceMinutes * 60_000);

// The switch: `POST /maintenance-switch` (the index has a button) puts both gateways in maintenance, or takes them
// out. The index, the switch, and requests with the bypass header still get through.
const bypass = { name: 'x-maintenance-bypass', value: 'demo-bypass-token' };
const state = { down: false };
const siteMaintenance = {
  enabled: () => state.down,
  allow: { paths: [/^\/$/, '/maintenance-switch'], header: bypass },
};

const locals = { siteName: 'gateway-errors demo', statusPageUrl: '/' };
// development: true adds the diagnostics panel (error type, phase, timings, upstream, cause) to every page, and
// details to Proxy-Status. Never in production: it shows internal hosts and messages.
const errorOptions = { locals, development: true };

function indexPage(framework) {
  const rows = scenarios
    .map(([name, says]) => `<li><a href="/${name}/hello"><code>/${name}/hello</code></a>: ${says}</li>`)
    .join('\n');
  const switchLabel = state.down ? 'Take the gateways out of maintenance' : 'Put both gateways in maintenance';
  return `<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>gateway-errors demo (${framework})</title>
<body style="font:16px/1.6 system-ui;max-width:52rem;margin:2rem auto;padding:0 1rem">
<h1>gateway-errors demo: ${framework}</h1>
<p>Each path is proxied to an upstream that behaves as described. The error pages show a <strong>diagnostics
panel</strong> (error type, phase, timings, upstream, cause) because the demo runs <code>gatewayErrors({ development:
true })</code>; in production (the default unless <code>NODE_ENV=development</code>) nothing internal is shown.
The terminal prints a line for every request: status, error type, format and time.</p>
<p>Browsers get the HTML page; try <code>curl -i -H 'Accept: application/json'</code> for problem+json, plain
<code>curl -i</code> for text, and <code>-H 'Accept-Language: fr'</code> for another language.
Reload <code>/refused/hello</code> a few times: after five failed attempts in a row its circuit breaker opens, and
the next requests get 503 destination_unavailable at once, with Retry-After the time it stays open.</p>
<ul>${rows}</ul>
<h2>Maintenance</h2>
<p>Maintenance is ${state.down ? '<strong>on</strong>: every path but this page answers 503' : 'off'}.
With no <code>until</code>, the page says "Please try again in 5 seconds" (the short hint);
<code>/maintenance/hello</code> has an <code>until</code>, so it counts down to it.
The bypass header still gets through:
<code>curl -i -H '${bypass.name}: ${bypass.value}' .../healthy/hello</code>.</p>
<form method="post" action="/maintenance-switch"><button>${switchLabel}</button></form>
<h2>Every page</h2>
<p><a href="/_errors"><code>/_errors</code></a> lists every page this gateway shows (each status, maintenance, each
language, HTML, JSON and text), rendered by its own <code>gatewayErrors()</code>: <code>errors.preview()</code>.
It answers only when <code>NODE_ENV=development</code>: ${
    process.env.NODE_ENV === 'development'
      ? 'on here'
      : `<strong>off here</strong> (NODE_ENV is ${JSON.stringify(process.env.NODE_ENV)}), so it is this app's 404`
  }.</p>
</body></html>`;
}

function proxyOptions(index) {
  const [name, , , extra] = scenarios[index];
  const targets = upstreams[index].map((upstream) => upstream.url);
  return { target: targets.length === 1 ? targets[0] : targets, timeouts, ...extra, name };
}

/** Prints the proxy's retries and breaker changes: they explain the request line that follows. */
function narrate(framework, name, proxy) {
  proxy.on('retry', (event) => {
    const type = event.failure.type ?? event.failure.status;
    const what = `${event.method} /${name}${event.path}`;
    note(framework, what, `attempt ${event.attempt - 1} failed (${type}), retrying on ${event.upstream}`);
  });
  proxy.on('breaker', (event) => {
    const until = event.openFor === undefined ? '' : ` for ${Math.round(event.openFor / 1000)} s`;
    note(framework, `/${name}`, `circuit breaker ${event.to}${until} (${event.reason})`);
  });
}

function withoutName({ name: _, ...options }) {
  return options;
}

// Express: the preview and maintenance() first, a gatewayProxy() per scenario, gatewayErrors() after the routes.
const app = express();
const expressErrors = ge.gatewayErrors(errorOptions);
app.use(expressErrors.preview());
app.use(ge.maintenance(siteMaintenance));
app.get('/', (_req, res) => res.type('html').send(indexPage('Express')));
app.post('/maintenance-switch', (_req, res) => {
  state.down = !state.down;
  res.redirect(303, '/');
});
for (const index of scenarios.keys()) {
  const options = proxyOptions(index);
  const proxy = ge.gatewayProxy(withoutName(options));
  narrate('express', options.name, proxy.proxy);
  if (options.name === 'maintenance') app.use('/maintenance', ge.maintenance({ until: maintenanceUntil }));
  app.use(`/${options.name}`, proxy);
}
app.use(expressErrors);

// Koa: gatewayErrors() first (it wraps everything below), its preview, then maintenance(), the index, a proxy per
// scenario.
const koa = new Koa();
koa.silent = true;
const koaErrors = gk.gatewayErrors(errorOptions);
koa.use(koaErrors);
koa.use(koaErrors.preview());
koa.use(gk.maintenance(siteMaintenance));
koa.use(async (ctx, next) => {
  if (ctx.path === '/' && ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = indexPage('Koa');
  } else if (ctx.path === '/maintenance-switch' && ctx.method === 'POST') {
    state.down = !state.down;
    ctx.redirect('/');
    ctx.status = 303;
  } else {
    await next();
  }
});
for (const index of scenarios.keys()) {
  const options = proxyOptions(index);
  const proxy = gk.gatewayProxy(withoutName(options));
  narrate('koa', options.name, proxy.proxy);
  if (options.name === 'maintenance') koa.use(mount('/maintenance', gk.maintenance({ until: maintenanceUntil })));
  koa.use(mount(`/${options.name}`, proxy));
}

function note(framework, what, text) {
  console.log(`${framework.padEnd(7)} ${what.padEnd(26)} ${text}`);
}

/** What a finished response says, in a few words: status, error type (from Proxy-Status), format. */
function outcome(res) {
  const proxyStatus = String(res.getHeader('proxy-status') ?? '');
  const type = /error=([a-z_]+)/.exec(proxyStatus)?.[1];
  const received = /received-status=(\d+)/.exec(proxyStatus)?.[1];
  const contentType = String(res.getHeader('content-type') ?? '');
  const format = contentType.startsWith('text/html')
    ? 'html'
    : contentType.startsWith('application/problem+json')
      ? 'problem+json'
      : contentType.startsWith('text/plain')
        ? 'text'
        : contentType.split(';')[0];
  const retryAfter = res.getHeader('retry-after');
  const parts = [String(res.statusCode)];
  if (type !== undefined) parts.push(type);
  else if (received !== undefined) parts.push(`the upstream's ${received}, answered with our page (intercept)`);
  else if (res.statusCode >= 500) parts.push("the upstream's own, passed through");
  if (!res.writableFinished) parts.push('then aborted: the response is truncated');
  if (format !== '') parts.push(format);
  if (retryAfter !== undefined) parts.push(`Retry-After: ${retryAfter}`);
  return parts.join(' · ');
}

/** The handler, with a line printed for each request once its response is done (or aborted). */
function logged(framework, handler) {
  return (req, res) => {
    const started = performance.now();
    const what = `${req.method} ${req.url}`;
    // Node keeps the headers a handler gives writeHead() (as the proxy does) readable with getHeader() only when a
    // header was set before: this one, so that the line can say what the upstream's answer was.
    res.setHeader('X-Demo-Gateway', framework);
    res.once('close', () => {
      note(framework, what, `${outcome(res)} · ${Math.round(performance.now() - started)} ms`);
    });
    handler(req, res);
  };
}

/** Listens on `port`, or the next free one (up to 20 further); port 0 takes any free port. */
function listen(handler, port) {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    let tried = port;
    server.on('error', (error) => {
      if (error.code !== 'EADDRINUSE' || port === 0 || tried >= port + 20) reject(error);
      else server.listen(++tried, '127.0.0.1');
    });
    server.once('listening', () => resolve(server));
    server.listen(port, '127.0.0.1');
  });
}

function where(server, wanted) {
  const { port } = server.address();
  const taken = wanted !== 0 && port !== wanted ? ` (${wanted}${port > wanted + 1 ? `-${port - 1}` : ''} taken)` : '';
  return `http://127.0.0.1:${port}/${taken}`;
}

const wanted = Number(process.env.PORT ?? 3000);
const expressServer = await listen(logged('express', app), wanted);
const koaWanted = wanted === 0 ? 0 : expressServer.address().port + 1;
const koaServer = await listen(logged('koa', koa.callback()), koaWanted);
const expressPort = expressServer.address().port;

console.log(`gateway-errors demo
  Express gateway: ${where(expressServer, wanted)}
  Koa gateway:     ${where(koaServer, koaWanted)}
Open one in a browser, or try: curl -i http://127.0.0.1:${expressPort}/refused/hello
Every page, to see templates at once: http://127.0.0.1:${expressPort}/_errors (${process.env.NODE_ENV === 'development' ? 'on' : 'off: NODE_ENV is not development'})
A line per request follows: the gateway, the request, the status, the error type, the format, the time.
Ctrl-C to stop.
`);

process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
