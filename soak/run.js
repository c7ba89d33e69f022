// pnpm soak: a bounded soak of the gateway, one adapter at a time, each in its own process, against a chaos upstream
// (another process) and a dead target, under keep-alive clients (this process). It checks every answer against the
// table of routes.js, then that the gateway's connections, sockets, active resources and RSS come back to their
// warm-up baseline. Exit code 0 when everything holds, 1 otherwise. Loopback only; it stops by itself.
//
//   node soak/run.js [--seconds 20 | --minutes N] [--adapters express,koa] [--clients 50] [--seed 1] [--json file]
//
// Needs the packages built (`pnpm build`; `pnpm soak` builds first). Runs on whatever `node` runs it: the children are
// forked with the same executable.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createTally, runLoad } from './load.js';
import { timeouts } from './routes.js';

/** Every client request ends within this bound (its own watchdog), far above the timeouts (1 s; a GET retried: 2). */
export const requestBound = 30_000;
/** The gateway's connections and sockets must be back at their baseline within this, once the clients closed theirs. */
export const settleBound = 30_000;
/**
 * Largest growth of the memory a leak would hold, from the warm-up baseline to the end, both after a full GC: the V8
 * heap in use, and `external` (Buffers and other memory outside the heap), each on its own.
 */
export const heapAllowance = 16 * 1024 * 1024;
/**
 * Largest RSS at the end, as a multiple of the baseline, both after a full GC: a loose bound. RSS keeps the allocator's
 * high-water mark of the bodies in flight (50 clients, 1 MiB answers): measured up to 1.5 times a baseline whose heap
 * and Buffers did not grow (71 MB above it on Node 24).
 */
export const rssRatio = 2;

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const mb = (bytes) => Math.round(bytes / 1024 / 1024);

function start(file, args, execArgv = []) {
  const child = fork(here(file), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ child, message }));
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
  });
}

function stats(child, gc = false) {
  return new Promise((resolve) => {
    const onMessage = (message) => {
      if (message?.stats === undefined) return;
      child.off('message', onMessage);
      resolve(message.stats);
    };
    child.on('message', onMessage);
    child.send({ stats: true, gc });
  });
}

const sockets = (s) => s.resources.TCPSocketWrap ?? 0;

/** Asks for stats until `done(stats)` holds or `bound` ms passed; resolves with the last stats and whether it held. */
async function settle(child, done, bound) {
  const until = performance.now() + bound;
  for (;;) {
    const last = await stats(child);
    if (done(last)) return { stats: last, settled: true };
    if (performance.now() > until) return { stats: last, settled: false };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Soaks one adapter: warm-up, baseline, load with samples, drain, and the checks. */
async function soakAdapter(adapter, upstream, options) {
  const { child, message } = await start('gateway.js', [adapter, upstream.url, upstream.dead], ['--expose-gc']);
  const port = message.port;
  const quiet = (s) => s.connections === 0 && sockets(s) === 0;
  try {
    // Warm-up: the same load, shorter, so that code, pools and caches are warm; then the baseline once it is quiet.
    const warm = createTally();
    await runLoad({
      ...options.load,
      port,
      until: performance.now() + options.warmupMs,
      tally: warm,
      seed: options.seed,
    });
    const warmed = await settle(child, quiet, settleBound);
    const baseline = await stats(child, true);

    const tally = createTally();
    const started = performance.now();
    const samples = [];
    const sampler = setInterval(async () => {
      const s = await stats(child);
      samples.push({
        at: Math.round((performance.now() - started) / 1000),
        rss: s.rss,
        requests: tally.requests,
        ...s,
      });
    }, options.sampleMs);
    await runLoad({ ...options.load, port, until: started + options.durationMs, tally, seed: options.seed + 1 });
    clearInterval(sampler);
    const loadSeconds = (performance.now() - started) / 1000;

    const after = await settle(child, quiet, settleBound);
    const end = await stats(child, true);
    const summary = tally.summary();
    const failures = [];
    if (!warmed.settled) failures.push('the gateway did not settle after the warm-up');
    if (summary.wrong > 0) failures.push(`${summary.wrong} wrong answers`);
    if (end.uncaughtCount > 0) failures.push(`${end.uncaughtCount} uncaught errors in the gateway`);
    if (!after.settled) {
      failures.push(`connections ${after.stats.connections} and sockets ${sockets(after.stats)} not back to 0`);
    }
    if (end.rss > baseline.rss * rssRatio) {
      failures.push(`RSS grew from ${mb(baseline.rss)} to ${mb(end.rss)} MB (allowed: ${rssRatio} times)`);
    }
    for (const kind of ['heapUsed', 'external']) {
      if (end[kind] - baseline[kind] > heapAllowance) {
        failures.push(`${kind} grew by ${mb(end[kind] - baseline[kind])} MB (allowed: ${mb(heapAllowance)})`);
      }
    }
    for (const [type, n] of Object.entries(end.resources)) {
      if (n > (baseline.resources[type] ?? 0))
        failures.push(`${n} active ${type} (baseline ${baseline.resources[type] ?? 0})`);
    }
    return {
      adapter,
      seconds: Math.round(loadSeconds),
      requestsPerSecond: Math.round(summary.requests / loadSeconds),
      ...summary,
      baseline: {
        rss: baseline.rss,
        heapUsed: baseline.heapUsed,
        external: baseline.external,
        resources: baseline.resources,
        connections: baseline.connections,
      },
      end: {
        rss: end.rss,
        heapUsed: end.heapUsed,
        external: end.external,
        resources: end.resources,
        connections: end.connections,
      },
      peakRss: Math.max(baseline.rss, ...samples.map((s) => s.rss)),
      samples: samples.map((s) => ({
        at: s.at,
        requests: s.requests,
        rss: s.rss,
        heapUsed: s.heapUsed,
        external: s.external,
        connections: s.connections,
        sockets: sockets(s),
        resources: Object.values(s.resources).reduce((a, b) => a + b, 0),
      })),
      events: end.events,
      uncaught: end.uncaught,
      failures,
    };
  } finally {
    child.kill();
  }
}

function report(result, log) {
  const r = result;
  log(`\nsoak: ${r.adapter}, ${r.seconds} s of load`);
  log(
    `  requests ${r.requests} (${r.requestsPerSecond}/s), wrong answers ${r.wrong}, clients walked away ${r.left}, ` +
      `longest request ${(r.maxMs / 1000).toFixed(1)} s`,
  );
  for (const [route, counts] of Object.entries(r.answers).sort()) {
    const line = Object.entries(counts)
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `${label} ×${n}`)
      .join(', ');
    log(`    ${route.padEnd(8)} ${line}`);
  }
  for (const example of r.wrongExamples) log(`  WRONG ${example}`);
  const count = (resources) =>
    Object.entries(resources)
      .map(([type, n]) => `${type} ${n}`)
      .join(', ');
  log(
    `  gateway RSS: baseline ${mb(r.baseline.rss)} MB, peak ${mb(r.peakRss)} MB, end ${mb(r.end.rss)} MB ` +
      `(${r.end.rss >= r.baseline.rss ? '+' : ''}${mb(r.end.rss - r.baseline.rss)} MB; both after a full GC)`,
  );
  log(
    `  gateway heap used: baseline ${mb(r.baseline.heapUsed)} MB, end ${mb(r.end.heapUsed)} MB; ` +
      `external (Buffers): baseline ${mb(r.baseline.external)} MB, end ${mb(r.end.external)} MB (after a full GC)`,
  );
  log(`  active resources: baseline ${count(r.baseline.resources)}; end ${count(r.end.resources)}`);
  log(`  connections at the end: ${r.end.connections}`);
  const every = Math.max(1, Math.ceil(r.samples.length / 20));
  const series = r.samples.filter((_, i) => i % every === 0 || i === r.samples.length - 1);
  log(
    `  over time (s: requests, RSS MB, sockets): ${series.map((s) => `${s.at}: ${s.requests}, ${mb(s.rss)}, ${s.sockets}`).join(' | ')}`,
  );
  log(
    `  proxy events: ${Object.entries(r.events)
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ×${n}`)
      .join(', ')}`,
  );
  for (const error of r.uncaught) log(`  UNCAUGHT ${error}`);
  log(r.failures.length === 0 ? '  ok' : `  FAILED: ${r.failures.join('; ')}`);
}

/** Runs the soak; resolves with every adapter's result and whether all passed. */
export async function soak(options) {
  const log = options.log ?? console.log;
  const { child: upstreamChild, message: upstream } = await start('upstream.js', []);
  const results = [];
  try {
    for (const adapter of options.adapters) {
      const result = await soakAdapter(adapter, upstream, options);
      report(result, log);
      results.push(result);
    }
  } finally {
    upstreamChild.kill();
  }
  return { ok: results.every((result) => result.failures.length === 0), results };
}

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string' },
      minutes: { type: 'string' },
      adapters: { type: 'string', default: 'express,koa' },
      clients: { type: 'string', default: '50' },
      seed: { type: 'string', default: '1' },
      json: { type: 'string' },
    },
  });
  const seconds = values.minutes !== undefined ? Number(values.minutes) * 60 : Number(values.seconds ?? 20);
  const adapters = values.adapters.split(',');
  if (!(seconds > 0) || adapters.some((a) => a !== 'express' && a !== 'koa')) {
    throw new Error('usage: node soak/run.js [--seconds N | --minutes N] [--adapters express,koa] [--clients 50]');
  }
  const durationMs = seconds * 1000;
  return {
    adapters,
    durationMs,
    warmupMs: Math.min(3000, durationMs / 4),
    sampleMs: Math.max(1000, Math.round(durationMs / 60)),
    seed: Number(values.seed),
    json: values.json,
    load: { clients: Number(values.clients), walkAway: 0.1, bound: requestBound },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = parse(process.argv.slice(2));
  // Bounded whatever happens: the load, each request's watchdog, and the settling all end well within this.
  const bound = options.adapters.length * (options.durationMs + options.warmupMs + requestBound * 2 + settleBound * 2);
  setTimeout(() => {
    console.error(`soak: still running after ${Math.round(bound / 1000)} s: giving up`);
    process.exit(1);
  }, bound).unref();
  console.log(
    `soak: ${options.adapters.join(' then ')}, ${options.durationMs / 1000} s each, ${options.load.clients} ` +
      `keep-alive clients, timeouts ${JSON.stringify(timeouts)}`,
  );
  const { ok, results } = await soak(options);
  if (options.json !== undefined) writeFileSync(options.json, `${JSON.stringify({ ok, results }, null, 2)}\n`);
  console.log(ok ? '\nsoak: ok' : '\nsoak: FAILED');
  process.exit(ok ? 0 : 1);
}
