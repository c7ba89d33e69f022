// The soak's load: keep-alive clients that each send one request after another (GET, HEAD, POST with bodies small and
// large) to random routes, some walking away mid-request, and check every answer against the table.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { accepts, check } from './check.js';
import { routes } from './routes.js';

/** A small seeded generator (mulberry32): a run's mix of requests is the same for the same seed. */
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes the POST bodies are cut from: up to 300 KB, so that bodies over the proxy's 64 KiB buffer are streamed. */
const bodySource = randomBytes(300_000);

const totalWeight = routes.reduce((sum, route) => sum + (route.weight ?? 1), 0);

/** Draws one request: route, method, Accept, body, and whether (and how) the client walks away. */
export function draw(next, walkAway) {
  let r = next() * totalWeight;
  let route = routes[routes.length - 1];
  for (const candidate of routes) {
    r -= candidate.weight ?? 1;
    if (r < 0) {
      route = candidate;
      break;
    }
  }
  const m = next();
  const method = m < 0.5 ? 'GET' : m < 0.65 ? 'HEAD' : 'POST';
  const a = next();
  const accept = a < 0.4 ? 'html' : a < 0.8 ? 'json' : 'text';
  let body;
  if (method === 'POST') {
    const size = next() < 0.7 ? Math.floor(next() * 8192) : 100_000 + Math.floor(next() * 200_000);
    const start = Math.floor(next() * (bodySource.length - size));
    body = bodySource.subarray(start, start + size);
  }
  let leave;
  if (next() < walkAway) {
    const w = next();
    // Before the answer (at a random moment up to 300 ms), once its first body bytes arrived, or mid-upload.
    leave =
      body !== undefined && body.length > 65536 && w < 0.3 ? 'mid-upload' : w < 0.65 ? 'before-answer' : 'mid-body';
  }
  return { route, method, accept, body, leave, leaveAfter: Math.floor(next() * 300) };
}

/**
 * Sends one request on `agent` and resolves with what came back: `{ outcome, status, headers, length, sha256, text,
 * code, ms }`, `outcome` being `complete`, `aborted`, `error`, `hung` (no end within `bound` ms: destroyed) or
 * `left` (the client walked away on purpose).
 */
export function send(port, agent, pick, bound) {
  return new Promise((resolve) => {
    const started = performance.now();
    let settled = false;
    const headers = { accept: accepts[pick.accept].header };
    if (pick.body !== undefined) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = String(pick.body.length);
    }
    const path = `${pick.route.path}/${Math.floor(started) % 1000}?soak=1`;
    const req = httpRequest({ host: '127.0.0.1', port, method: pick.method, path, agent, headers });
    const done = (seen) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      clearTimeout(walker);
      resolve({ ...seen, ms: performance.now() - started });
    };
    const leave = () => {
      req.destroy();
      done({ outcome: 'left' });
    };
    const watchdog = setTimeout(() => {
      req.destroy();
      done({ outcome: 'hung' });
    }, bound);
    const walker = pick.leave === 'before-answer' ? setTimeout(leave, pick.leaveAfter) : undefined;
    req.on('response', (res) => {
      const hash = createHash('sha256');
      const chunks = [];
      let length = 0;
      res.on('data', (chunk) => {
        if (pick.leave === 'mid-body') leave();
        hash.update(chunk);
        length += chunk.length;
        if (length <= 65536) chunks.push(chunk);
      });
      // 'close' follows the end of a complete response, and a connection cut before it (`complete` false).
      res.on('close', () =>
        done({
          outcome: res.complete ? 'complete' : 'aborted',
          status: res.statusCode,
          headers: res.headers,
          length,
          sha256: hash.digest('hex'),
          text: length <= 65536 ? Buffer.concat(chunks).toString('utf8') : undefined,
        }),
      );
      res.on('error', () => {});
    });
    req.on('error', (error) => done({ outcome: 'error', code: error.code }));
    if (pick.leave === 'mid-upload') {
      req.write(pick.body.subarray(0, pick.body.length >> 1), () => leave());
    } else {
      req.end(pick.body);
    }
  });
}

/**
 * Runs `clients` keep-alive clients against the gateway on `port` until `until` (a performance.now() value), then
 * closes their connections. Every answer goes through the checker; `tally` collects the figures.
 */
export async function runLoad({ port, clients, until, seed, walkAway, bound, tally }) {
  const next = random(seed);
  const one = async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    while (performance.now() < until) {
      const pick = draw(next, walkAway);
      const seen = await send(port, agent, pick, bound);
      tally.record(pick, seen);
    }
    agent.destroy();
  };
  await Promise.all(Array.from({ length: clients }, one));
}

/** The figures of a load: per route and answer, wrong answers (the first few in full), walk-aways, durations. */
export function createTally() {
  const byRoute = new Map();
  const wrong = [];
  let requests = 0;
  let wrongCount = 0;
  let left = 0;
  let maxMs = 0;
  return {
    record(pick, seen) {
      requests++;
      if (seen.ms > maxMs) maxMs = seen.ms;
      const route = pick.route.route;
      let counts = byRoute.get(route);
      if (counts === undefined) {
        counts = new Map();
        byRoute.set(route, counts);
      }
      let label;
      if (seen.outcome === 'left') {
        left++;
        label = 'client walked away';
      } else {
        const verdict = check(pick.route, pick, seen);
        if (verdict.wrong !== undefined) {
          wrongCount++;
          label = 'WRONG';
          if (wrong.length < 20) {
            wrong.push(
              `${pick.method} ${pick.route.path} (${pick.accept}, body ${pick.body?.length ?? 0}): ${verdict.wrong}`,
            );
          }
        } else {
          label = verdict.label;
        }
      }
      counts.set(label, (counts.get(label) ?? 0) + 1);
    },
    get requests() {
      return requests;
    },
    summary() {
      const answers = {};
      for (const [route, counts] of byRoute) answers[route] = Object.fromEntries(counts);
      return { requests, wrong: wrongCount, left, maxMs: Math.round(maxMs), answers, wrongExamples: wrong };
    },
  };
}
