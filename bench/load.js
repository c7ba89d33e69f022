// The load generator: wrk when it is installed (a C program: it leaves more of the machine to the contenders),
// autocannon from npm otherwise. Both report requests per second, p99 latency and the statuses seen.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import autocannon from 'autocannon';

const run = promisify(execFile);

async function hasWrk() {
  try {
    await run('wrk', ['--version']);
    return true;
  } catch (error) {
    // wrk prints its version and exits 1.
    return /wrk/.test(`${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
}

const viaAutocannon = {
  name: `autocannon ${autocannon.version ?? ''}`.trim(),
  async run({ port, duration, amount, connections, headers = {} }) {
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/bench`,
      connections,
      headers,
      ...(amount ? { amount } : { duration }),
    });
    const statuses = {};
    for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
    return { rps: result.requests.average, requests: result.requests.total, p99: result.latency.p99, statuses };
  },
};

function parseLatency(text) {
  const match = /([\d.]+)(us|ms|s)\b/.exec(text);
  if (!match) return Number.NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

const viaWrk = {
  name: 'wrk',
  async run(options) {
    // wrk runs for a duration only; a fixed number of requests goes through autocannon.
    if (options.amount) return viaAutocannon.run(options);
    const { port, duration, connections, headers = {} } = options;
    const args = ['-t2', `-c${connections}`, `-d${duration}s`, '--latency'];
    for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
    const { stdout } = await run('wrk', [...args, `http://127.0.0.1:${port}/bench`]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
    const p99 = parseLatency(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
    const errors = /Socket errors: (.*)/.exec(stdout)?.[1];
    const statuses = non2xx > 0 ? { 'non-2xx': non2xx } : { '2xx': 1 };
    if (errors) statuses[`socket errors: ${errors}`] = 1;
    return { rps, requests, p99, statuses };
  },
};

/** wrk if installed, else autocannon. BENCH_LOAD=autocannon forces autocannon. */
export async function loadGenerator() {
  if (process.env.BENCH_LOAD !== 'autocannon' && (await hasWrk())) return viaWrk;
  return viaAutocannon;
}
