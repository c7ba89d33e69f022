// The recipe as a deploy meets it: the example runs in a child process (the built packages, as `pnpm start` runs
// them), a slow request is in flight and another connection is half-way through its request when SIGTERM comes.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { httpUpstream, parseResponses, type Upstream } from '@gateway-errors/testing';
import { afterEach, describe, expect, it } from 'vitest';

let child: ChildProcess | undefined;
let upstream: Upstream | undefined;
let agent: Agent | undefined;

afterEach(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
  agent?.destroy();
  await upstream?.close();
  child = upstream = agent = undefined;
});

/** Starts `file` of the example against `target`; resolves with its port and a way to wait for its lines. */
async function start(file: string, target: string) {
  const started = spawn(process.execPath, [fileURLToPath(new URL(`../${file}`, import.meta.url))], {
    env: { ...process.env, PORT: '0', UPSTREAM: target },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  let stderr = '';
  started.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines: string[] = [];
  const waiting: Array<() => void> = [];
  createInterface({ input: started.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    lines.push(text);
    for (const wake of waiting.splice(0)) wake();
  });
  const exited = once(started, 'exit');
  /** Resolves with the first line that matches `pattern`; rejects if the process exits first. */
  async function line(pattern: RegExp): Promise<string> {
    for (;;) {
      const found = lines.find((text) => pattern.test(text));
      if (found !== undefined) return found;
      const more = new Promise<void>((resolve) => waiting.push(resolve));
      await Promise.race([
        more,
        exited.then(([code]) => {
          throw new Error(`${file} exited (${code}) before printing ${pattern}:\n${lines.join('\n')}\n${stderr}`);
        }),
      ]);
    }
  }
  const port = Number(/on http:\/\/127\.0\.0\.1:(\d+)\/api/.exec(await line(/gateway on/))?.[1]);
  return { port, line, exited };
}

/** A keep-alive GET, as a browser or a load balancer sends it. */
function get(url: string): Promise<{ status: number; body: string; connection: string | undefined }> {
  agent ??= new Agent({ keepAlive: true });
  const via = agent;
  return new Promise((resolve, reject) => {
    request(url, { agent: via }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
    })
      .on('error', reject)
      .end();
  });
}

describe.each(['express.js', 'koa.js'])('examples/graceful-drain/%s on SIGTERM', (file) => {
  it('lets the slow request finish, answers a new one 503 with Connection: close, and exits by itself', async () => {
    // The upstream holds /slow until the test lets it go, and answers the rest (the health checks) at once.
    let slow: ServerResponse | undefined;
    let slowArrived: () => void = () => {};
    const arrived = new Promise<void>((resolve) => {
      slowArrived = resolve;
    });
    upstream = await httpUpstream((req, res) => {
      req.resume();
      if (req.url === '/slow') {
        slow = res;
        slowArrived();
      } else {
        res.end(`answered ${req.url}\n`);
      }
    });
    const gateway = await start(file, upstream.url);
    const base = `http://127.0.0.1:${gateway.port}`;
    expect(await get(`${base}/api/fast`)).toEqual({ status: 200, body: 'answered /fast\n', connection: 'keep-alive' });

    const inFlight = get(`${base}/api/slow`);
    await arrived;
    // Another client, half-way through its request head when the deploy begins: its connection is not idle, so
    // server.close() leaves it open, and its request reaches the draining proxy.
    const late = connect(gateway.port, '127.0.0.1');
    late.on('error', () => {});
    await once(late, 'connect');
    late.write('GET /api/late HTTP/1.1\r\nHost: gateway\r\n');
    let lateBytes = '';
    late.on('data', (chunk: Buffer) => {
      lateBytes += chunk.toString('latin1');
    });

    child?.kill('SIGTERM');
    await gateway.line(/^draining$/);
    late.write('\r\n');
    await once(late, 'close');
    const [answer] = parseResponses(lateBytes, ['GET'], true);
    expect(answer?.status).toBe(503);
    expect(answer?.headers.connection).toEqual(['close']);
    expect(answer?.headers['retry-after']).toEqual(['1']);
    expect(answer?.headers['proxy-status']).toEqual(['gateway-errors; error=proxy_internal_response']);

    slow?.end('the slow answer\n');
    expect(await inFlight).toEqual({ status: 200, body: 'the slow answer\n', connection: 'close' });
    expect(await gateway.line(/^drained: /)).toBe(
      'drained: {"requests":{"finished":1,"cut":0},"tunnels":{"closed":0,"cut":0}}',
    );
    // No handle is left (server, connections, health-check timer, upstream sockets): it exits on its own, code 0.
    const [code, signal] = await gateway.exited;
    expect([code, signal]).toEqual([0, null]);
  });
});
