// Render cost per error response, over the built package: `pnpm build && node packages/core/bench/render.mjs`.
// Prints the median of several runs, in microseconds per response, for each format; no server, no socket.
import { createErrorResponder } from '../dist/index.js';
import { failureOf } from '../dist/unstable-internals.js';

const responder = createErrorResponder({ locals: { siteName: 'Acme', statusPageUrl: 'https://status.example.com' } });
const development = createErrorResponder({ development: true });
const failure = failureOf('connection_refused', {
  code: 'ECONNREFUSED',
  upstream: 'http://127.0.0.1:4000',
  cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4000'), { code: 'ECONNREFUSED' }),
  timings: { connect: 0.4, total: 0.6 },
});
const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8';

const cases = [
  ['html', responder, { accept: browser, 'accept-language': 'en-US,en;q=0.9' }],
  ['html (fr-CA)', responder, { accept: browser, 'accept-language': 'fr-CA,fr;q=0.9,en;q=0.8' }],
  ['html (development)', development, { accept: browser, 'accept-language': 'en-US,en;q=0.9' }],
  ['problem', responder, { accept: 'application/json, text/plain, */*' }],
  ['text', responder, { accept: '*/*' }],
];

const iterations = Number(process.env.ITERATIONS ?? 20_000);
const runs = 7;

function measure(responder, headers) {
  const start = performance.now();
  let bytes = 0;
  // A fresh request object each time, as a server would have: the request id is not cached across iterations.
  for (let i = 0; i < iterations; i++) bytes += responder.render(failure, { headers }).body.length;
  if (bytes === 0) throw new Error('nothing rendered');
  return ((performance.now() - start) * 1000) / iterations;
}

console.log(`render cost, median of ${runs} runs of ${iterations} (node ${process.version})`);
for (const [name, responder, headers] of cases) {
  measure(responder, headers); // warm the JIT and the string caches
  const times = Array.from({ length: runs }, () => measure(responder, headers)).sort((a, b) => a - b);
  const size = Buffer.byteLength(responder.render(failure, { headers }).body);
  const median = times[Math.floor(runs / 2)];
  console.log(`${name.padEnd(20)} ${median.toFixed(2).padStart(7)} µs/page  (${size} bytes)`);
}
