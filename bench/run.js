// `pnpm bench`: every contender side by side, in interleaved rounds, on 127.0.0.1 only, bounded in time.
// Prints medians and the ratios measured within each round, and writes docs/benchmarks.md.
//
// Environment: BENCH_DURATION (seconds per measurement, default 3), BENCH_ROUNDS (default 5: this host is noisy, see the per-round table),
// BENCH_CONNECTIONS (default 32), BENCH_FAILURES (failing requests for the memory check, default 100000),
// BENCH_ONLY (comma-separated contender names), BENCH_SCENARIOS (comma-separated: happy, error, breaker, copies, stale,
// memory, store; default all, and docs/benchmarks.md is written only then). `copies`: ours with and without
// stale-if-error on the happy path; `stale`: ours with the breaker open, answering with the error page or
// (stale-if-error) a copy. The store scenario starts a redis-server (Debian's, REDIS_SERVER_PATH) on a free loopback
// port; without one it is skipped.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loadGenerator } from './load.js';
import { ask, median, refusedPort, start, startRedis } from './processes.js';
import { renderCosts } from './render-cost.js';

const here = (file) => fileURLToPath(new URL(file, import.meta.url));
const duration = Number(process.env.BENCH_DURATION ?? 3);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 32);
const failuresForMemory = Number(process.env.BENCH_FAILURES ?? 100_000);
const only = process.env.BENCH_ONLY?.split(',');
const allScenarios = ['happy', 'error', 'breaker', 'copies', 'stale', 'memory', 'store'];
const scenarios = process.env.BENCH_SCENARIOS?.split(',') ?? allScenarios;
const wanted = (scenario) => scenarios.includes(scenario);

const frameworks = {
  express: ['express+gateway-errors', 'express+http-proxy-3', 'express+http-proxy-middleware'],
  koa: ['koa+gateway-errors', 'koa+http-proxy-3', 'koa+koa-proxies'],
  node: ['node:http+core'],
};
const floorOf = { express: 'express+http-proxy-3', koa: 'koa+http-proxy-3' };
const contenders = Object.values(frameworks)
  .flat()
  .filter((name) => !only || only.includes(name));

const shuffle = (list) =>
  list
    .map((value) => [Math.random(), value])
    .sort((a, b) => a[0] - b[0])
    .map(([, value]) => value);

const generator = await loadGenerator();
console.log(`load generator: ${generator.name}; ${rounds} rounds x ${duration} s, ${connections} connections`);

async function runScenario(title, upstreamUrl, mode, headers, names, prepare = async () => {}) {
  const running = {};
  for (const name of names) {
    try {
      running[name] = await start(here('./contender.js'), [name, upstreamUrl, mode], ['--expose-gc']);
    } catch (error) {
      console.log(`  ${name}: skipped (${error.message})`);
    }
  }
  await prepare(running);
  const results = Object.fromEntries(Object.keys(running).map((name) => [name, []]));
  const started = Object.keys(running);
  // Warm-up: JIT, keep-alive pools, and (breaker mode) enough failures to open the breaker.
  for (const name of started) await generator.run({ port: running[name].port, duration: 1, connections, headers });
  for (let round = 0; round < rounds; round++) {
    for (const name of shuffle(started)) {
      const { child, port } = running[name];
      const before = (await ask(child, 'cpu')).cpu;
      const result = await generator.run({ port, duration, connections, headers });
      const after = (await ask(child, 'cpu')).cpu;
      results[name].push({ ...result, cpu: (after - before) / result.requests });
    }
  }
  for (const { child } of Object.values(running)) child.kill();
  console.log(`\n${title}`);
  const rows = started.map((name) => ({
    name,
    rps: median(results[name].map((r) => r.rps)),
    cpu: median(results[name].map((r) => r.cpu)),
    p99: median(results[name].map((r) => r.p99)),
    statuses: [...new Set(results[name].flatMap((r) => Object.keys(r.statuses)))].join(' '),
  }));
  for (const row of rows) {
    console.log(
      `  ${row.name.padEnd(32)} ${row.rps.toFixed(0).padStart(8)} req/s  ${row.cpu.toFixed(1).padStart(6)} µs CPU/req  p99 ${row.p99} ms  [${row.statuses}]`,
    );
  }
  return { rows, results };
}

/** Median over rounds of (ours / floor) within the same round: of throughput, or of the floor's CPU per request over
 * ours (so that above 1 means cheaper than the floor, as for throughput). */
function ratioWithinRounds(results, ours, floor, measure = 'rps') {
  if (!results?.[ours] || !results[floor]) return undefined;
  const ratios = results[ours].map((r, i) =>
    measure === 'rps' ? r.rps / results[floor][i].rps : results[floor][i].cpu / r.cpu,
  );
  return median(ratios);
}

const upstream = await start(here('./upstream.js'));
const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
const downUrl = `http://127.0.0.1:${await refusedPort()}`;
const browser = {
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-US,en;q=0.9',
};
const benchStarted = Date.now();

const skipped = { rows: [], results: {} };
const happy = wanted('happy')
  ? await runScenario('Happy path (small GET, keep-alive)', upstreamUrl, 'happy', {}, contenders)
  : skipped;
const error = wanted('error')
  ? await runScenario(
      'Error path (upstream refuses; ours render the full HTML page)',
      downUrl,
      'error',
      browser,
      contenders,
    )
  : skipped;
const oursNames = contenders.filter((name) => name.includes('gateway-errors') || name === 'node:http+core');
const breaker = wanted('breaker')
  ? await runScenario('Breaker open (ours; no upstream attempt)', downUrl, 'breaker', browser, oursNames)
  : skipped;
// Store-backed: the same Express gateway with maintenance({ store }) and gatewayProxy({ store }), on Redis and on the
// in-memory store. The happy path asks neither store anything (local state, updated by pub/sub): the ratio is ~1.
const storeNames = ['express+gateway-errors+memory-store', 'express+gateway-errors+redis-store'];
let store = skipped;
let storeRatio;
if (wanted('store')) {
  const redis = await startRedis();
  if (redis === undefined) console.log('\nStore-backed: skipped (no redis-server; apt-get install -y redis-server)');
  else {
    process.env.BENCH_REDIS_URL = redis.url;
    try {
      store = await runScenario(
        'Store-backed happy path (maintenance and proxy with a store)',
        upstreamUrl,
        'happy',
        {},
        storeNames,
      );
      storeRatio = ratioWithinRounds(store.results, storeNames[1], storeNames[0]);
    } finally {
      redis.stop();
    }
  }
}
const withCopies = oursNames.flatMap((name) => [name, `${name}+copies`]);
// Keeping copies on the happy path: the same small GET, ours with and without stale-if-error, in the same rounds.
const copies = wanted('copies')
  ? await runScenario(
      'Happy path, keeping copies (ours, with and without stale-if-error)',
      upstreamUrl,
      'happy',
      {},
      withCopies,
    )
  : skipped;
// A stale answer against the breaker-open answer: each contender sees one good answer from an upstream of its own,
// which then dies; the warm-up opens the breakers, and every measured request is answered without an attempt, with
// the error page, or (+copies) with the copy of that answer.
const stale = wanted('stale')
  ? await (async () => {
      const seed = await start(here('./upstream.js'));
      return runScenario(
        'Breaker open, answered with a stale copy (ours, with and without stale-if-error)',
        `http://127.0.0.1:${seed.port}`,
        'breaker',
        browser,
        withCopies,
        async (running) => {
          for (const { port } of Object.values(running)) await seen(port);
          seed.child.kill();
          await new Promise((resolve) => seed.child.once('exit', resolve));
        },
      );
    })()
  : skipped;
upstream.child.kill();

/** One GET of the path the load generator asks for, as it asks (Host 127.0.0.1:port), through a contender. */
function seen(port) {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${port}/bench`, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`seed answered ${res.statusCode}`))));
    }).on('error', reject);
  });
}

const ratios = [];
for (const [framework, floor] of Object.entries(floorOf)) {
  const ours = `${framework}+gateway-errors`;
  const peer = frameworks[framework].find((name) => name !== ours && name !== floor);
  const happyRatio = ratioWithinRounds(happy.results, ours, floor);
  const errorRatio = ratioWithinRounds(error.results, ours, floor);
  const happyCpu = ratioWithinRounds(happy.results, ours, floor, 'cpu');
  const errorCpu = ratioWithinRounds(error.results, ours, floor, 'cpu');
  const peerHappy = ratioWithinRounds(happy.results, peer, floor);
  const peerError = ratioWithinRounds(error.results, peer, floor);
  const floorHappy = median(happy.results[floor]?.map((r) => r.rps) ?? [Number.NaN]);
  const breakerRps = median(breaker.results[ours]?.map((r) => r.rps) ?? [Number.NaN]);
  ratios.push({
    framework,
    floor,
    ours,
    peer,
    happyRatio,
    errorRatio,
    happyCpu,
    errorCpu,
    peerHappy,
    peerError,
    breakerVsFloorHappy: breakerRps / floorHappy,
  });
}

// Memory: RSS of our Express and Koa gateways after warm-up and after N failing requests.
const memory = [];
for (const name of ['express+gateway-errors', 'koa+gateway-errors'].filter(
  (n) => wanted('memory') && contenders.includes(n),
)) {
  const contender = await start(here('./contender.js'), [name, downUrl, 'error'], ['--expose-gc']);
  await generator.run({ port: contender.port, duration: 2, connections, headers: browser });
  const warm = (await ask(contender.child, 'rss')).rss;
  await generator.run({ port: contender.port, amount: failuresForMemory, connections, headers: browser });
  const after = (await ask(contender.child, 'rss')).rss;
  contender.child.kill();
  memory.push({ name, warm, after, growth: after - warm });
}

// With stale-if-error over without, within each round: the cost of keeping copies on the happy path, and the cost of
// a stale answer against the breaker-open error page (above 1 means cheaper or faster with copies).
const copyRatios = oursNames.map((ours) => ({
  ours,
  happy: ratioWithinRounds(copies.results, `${ours}+copies`, ours),
  happyCpu: ratioWithinRounds(copies.results, `${ours}+copies`, ours, 'cpu'),
  stale: ratioWithinRounds(stale.results, `${ours}+copies`, ours),
  staleCpu: ratioWithinRounds(stale.results, `${ours}+copies`, ours, 'cpu'),
}));

const renders = await renderCosts();
const elapsed = Math.round((Date.now() - benchStarted) / 1000);

const fmt = (ratio) => (ratio === undefined || Number.isNaN(ratio) ? 'n/a' : `${ratio.toFixed(3)}x`);
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
console.log('\nRatios (median of per-round ratios against the same framework with a bare http-proxy-3)');
for (const r of ratios) {
  console.log(
    `  ${r.framework}: happy ${fmt(r.happyRatio)} (target >= 0.95x), error ${fmt(r.errorRatio)} (target >= 0.9x),` +
      ` breaker open vs floor happy ${fmt(r.breakerVsFloorHappy)} (target >= 1x); ${r.peer}: happy ${fmt(r.peerHappy)}, error ${fmt(r.peerError)}`,
  );
}
console.log('Per round (throughput ratio / CPU ratio), to judge the noise');
const perRound = [];
for (const [name, scenario] of [
  ['happy', happy],
  ['error', error],
]) {
  for (const r of ratios) {
    const ours = scenario.results[r.ours];
    const floor = scenario.results[r.floor];
    if (!ours || !floor) continue;
    const rounds = ours.map((o, i) => `${(o.rps / floor[i].rps).toFixed(2)}/${(floor[i].cpu / o.cpu).toFixed(2)}`);
    perRound.push({ framework: r.framework, scenario: name, rounds });
    console.log(`  ${r.framework} ${name}: ${rounds.join('  ')}`);
  }
}
if (storeRatio !== undefined)
  console.log(`  store-backed: Redis store vs in-memory store, happy path ${fmt(storeRatio)} (target >= 0.95x)`);
console.log(
  'Copies (stale-if-error): with over without, within rounds (throughput / CPU, above 1: cheaper with copies)',
);
for (const r of copyRatios) {
  console.log(
    `  ${r.ours}: happy path ${fmt(r.happy)} / ${fmt(r.happyCpu)} (target >= 0.97x), stale copy vs breaker-open page ${fmt(r.stale)} / ${fmt(r.staleCpu)} (target >= 1x)`,
  );
}
console.log('CPU per request, floor over ours (above 1: ours costs less)');
for (const r of ratios) console.log(`  ${r.framework}: happy ${fmt(r.happyCpu)}, error ${fmt(r.errorCpu)}`);
console.log('\nRender cost per page (microseconds)');
for (const row of renders) console.log(`  ${row.page.padEnd(24)} ${row.microseconds.toFixed(1)}`);
console.log('\nMemory');
for (const row of memory)
  console.log(
    `  ${row.name}: RSS ${mb(row.warm)} warm, ${mb(row.after)} after ${failuresForMemory} failures (growth ${mb(row.growth)}, target < 15 MB)`,
  );

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {}
const table = (rows) =>
  [
    '| contender | req/s (median) | CPU µs per request (median) | p99 ms | statuses |',
    '| --- | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| ${r.name} | ${r.rps.toFixed(0)} | ${r.cpu.toFixed(1)} | ${r.p99} | ${r.statuses} |`),
  ].join('\n');
const report = `# Benchmarks

Produced by \`pnpm bench\` (bench/run.js) on ${new Date().toISOString().slice(0, 10)}, commit ${commit}, in ${elapsed} s.
Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, ${mb(totalmem())} RAM, Node ${process.version}, ${process.platform}/${process.arch}.
Load generator: ${generator.name}, ${connections} connections, ${rounds} interleaved rounds of ${duration} s per contender and scenario,
everything on 127.0.0.1 (the generator, the upstream and the contender share the machine's cores, so absolute numbers are
low; the ratios, measured within the same round, are what to read).

Every contender runs in its own process. "Floor" is the same framework with a bare http-proxy-3 instance and a
plain-text 502: the least any proxy in that framework can do. On the error path ours render the full negotiated HTML
page (a browser's Accept header), with every header our rules require.

## Ratios

Throughput (requests per second), ours over the floor's, median of the per-round ratios:

| framework | ours vs floor, happy path (target >= 0.95) | ours vs floor, error path (target >= 0.9) | ours with the breaker open vs floor's happy path (target >= 1) | peer | peer vs floor, happy | peer vs floor, error |
| --- | ---: | ---: | ---: | --- | ---: | ---: |
${ratios.map((r) => `| ${r.framework} | ${fmt(r.happyRatio)} | ${fmt(r.errorRatio)} | ${fmt(r.breakerVsFloorHappy)} | ${r.peer} | ${fmt(r.peerHappy)} | ${fmt(r.peerError)} |`).join('\n')}

The gateway's own CPU time per request (user + system of its process, so not the load generator's work of reading
our larger page), the floor's over ours: above 1 means ours spends less.

| framework | happy path | error path |
| --- | ---: | ---: |
${ratios.map((r) => `| ${r.framework} | ${fmt(r.happyCpu)} | ${fmt(r.errorCpu)} |`).join('\n')}

Each round on its own (throughput ratio / CPU ratio): how far one round can stray is how much a single figure means.

| framework | scenario | rounds |
| --- | --- | --- |
${perRound.map((p) => `| ${p.framework} | ${p.scenario} | ${p.rounds.join(', ')} |`).join('\n')}

## Happy path (small GET, keep-alive)

${table(happy.rows)}

## Error path (the upstream refuses connections)

${table(error.rows)}

## Breaker open (no upstream attempt)

${table(breaker.rows)}

## Store-backed happy path (maintenance and proxy with a store)

The same Express gateway with \`maintenance({ store })\` and \`gatewayProxy({ store })\`, on a Redis (a local
redis-server) and on the in-memory store. A request reads only this instance's state (updated by pub/sub), so the
Redis store should cost nothing on the happy path: Redis over in-memory, median of per-round ratios:
${storeRatio === undefined ? 'not measured (no redis-server).' : fmt(storeRatio)}

${table(store.rows)}

## Copies (stale-if-error)

Ours with \`staleIfError: true\` over ours without, in the same rounds (median of the per-round ratios; throughput, then
the gateway's CPU per request, above 1 meaning cheaper with copies): on the happy path, what keeping copies costs (a
hot URL is kept again about once a second); with the breaker open, a stale copy against the breaker-open error page.

| gateway | happy path, keeping copies (target >= 0.97) | CPU | stale copy vs breaker-open page (target >= 1) | CPU |
| --- | ---: | ---: | ---: | ---: |
${copyRatios.map((r) => `| ${r.ours} | ${fmt(r.happy)} | ${fmt(r.happyCpu)} | ${fmt(r.stale)} | ${fmt(r.staleCpu)} |`).join('\n')}

### Happy path, keeping copies

${table(copies.rows)}

### Breaker open, answered with a stale copy

${table(stale.rows)}

## Render cost per page

| page | microseconds |
| --- | ---: |
${renders.map((r) => `| ${r.page} | ${r.microseconds.toFixed(1)} |`).join('\n')}

## Memory (RSS, after a forced GC)

| gateway | warm | after ${failuresForMemory} failures | growth (target < 15 MB) |
| --- | ---: | ---: | ---: |
${memory.map((r) => `| ${r.name} | ${mb(r.warm)} | ${mb(r.after)} | ${mb(r.growth)} |`).join('\n')}
`;
// The profile analysis is written by hand (bench/analysis.md) and kept under every new set of figures.
const analysis = existsSync(new URL('./analysis.md', import.meta.url))
  ? `\n${readFileSync(new URL('./analysis.md', import.meta.url), 'utf8')}`
  : '';
if (allScenarios.every(wanted) && !only) {
  writeFileSync(new URL('../docs/benchmarks.md', import.meta.url), report + analysis);
  console.log(`\nwrote docs/benchmarks.md (${elapsed} s)`);
} else {
  console.log(`\na partial run (BENCH_ONLY or BENCH_SCENARIOS): docs/benchmarks.md left as it was (${elapsed} s)`);
}
