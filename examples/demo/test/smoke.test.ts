// The demo as a user starts it: `node server.js` in a child process (the built packages, as `pnpm demo` runs it), on
// free ports, read through its terminal lines.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const server = fileURLToPath(new URL('../server.js', import.meta.url));

interface Demo {
  readonly express: string;
  readonly koa: string;
  readonly banner: string;
  /** Resolves with the first line printed from now on that matches `pattern`. */
  line(pattern: RegExp): Promise<string>;
}

let child: ChildProcess | undefined;
let blocker: Server | undefined;

afterEach(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  child = undefined;
  blocker?.close();
  blocker = undefined;
});

/** Starts the demo with PORT=`port` and resolves once it printed where it listens. */
async function startDemo(port: number, environment = 'production'): Promise<Demo> {
  const started = spawn(process.execPath, [server], {
    env: { ...process.env, PORT: String(port), NODE_ENV: environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  let stderr = '';
  started.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const lines: string[] = [];
  const waiting: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  let seen = 0;
  createInterface({ input: started.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    lines.push(text);
    for (const waiter of waiting.slice()) {
      if (waiter.pattern.test(text)) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(text);
      }
    }
  });
  const line = (pattern: RegExp, from = seen) =>
    new Promise<string>((resolve) => {
      const earlier = lines.slice(from).find((text) => pattern.test(text));
      if (earlier !== undefined) resolve(earlier);
      else waiting.push({ pattern, resolve });
    });
  const exited = once(started, 'exit').then(([code]) => {
    throw new Error(`the demo exited (${code}) before it listened:\n${stderr}`);
  });
  await Promise.race([line(/^Ctrl-C to stop/), exited]);
  const banner = lines.join('\n');
  const url = (name: string) => new RegExp(`${name} gateway: +(http://127\\.0\\.0\\.1:\\d+)/`).exec(banner)?.[1] ?? '';
  seen = lines.length;
  return {
    express: url('Express'),
    koa: url('Koa'),
    banner,
    line(pattern) {
      return line(pattern);
    },
  };
}

describe('the demo', () => {
  it('prints where it listens, and a line per request with its status, error type, format and time', async () => {
    const demo = await startDemo(0);
    expect(demo.express).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(demo.koa).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(demo.banner).toContain('A line per request follows');

    const index = await fetch(`${demo.express}/`);
    expect(index.status).toBe(200);
    const html = await index.text();
    expect(html).toContain('gatewayErrors({ development:');
    expect(html).toContain('href="/maintenance/hello"');
    expect(await demo.line(/^express GET \/ +200 · html · \d+ ms$/)).toBeTruthy();

    // The diagnostics panel is on: the page and problem+json say what happened.
    const refused = await fetch(`${demo.express}/refused/hello`, { headers: { accept: 'application/json' } });
    expect(refused.status).toBe(502);
    expect(refused.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(refused.headers.get('proxy-status')).toMatch(/^gateway-errors; error=connection_refused; details="/);
    const problem = await refused.json();
    expect(problem).toMatchObject({ status: 502, errorType: 'connection_refused' });
    expect(problem.diagnostics).toBeDefined();
    await demo.line(/^express GET \/refused\/hello +attempt 1 failed \(connection_refused\), retrying on http/);
    expect(await demo.line(/^express GET \/refused\/hello +502/)).toMatch(
      / 502 · connection_refused · problem\+json · Retry-After: 5 · \d+ ms$/,
    );

    const page = await fetch(`${demo.koa}/garbage/hello`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(502);
    const body = await page.text();
    expect(body).toContain('http_protocol_error');
    expect(body).toMatch(/<section class="diagnostics"/);
    expect(await demo.line(/^koa +GET \/garbage\/hello +502/)).toMatch(/ 502 · http_protocol_error · html · /);

    const failover = await fetch(`${demo.koa}/failover/hello`);
    expect(failover.status).toBe(200);
    expect(await failover.json()).toMatchObject({ method: 'GET', url: '/hello' });
    expect(await demo.line(/^koa +GET \/failover\/hello +200/)).toMatch(/ 200 · application\/json · \d+ ms$/);

    const intercepted = await fetch(`${demo.express}/intercepted/hello`);
    expect(intercepted.status).toBe(503);
    expect(intercepted.headers.get('retry-after')).toBe('120');
    expect(await intercepted.text()).toContain('This service is temporarily unavailable');
    expect(await demo.line(/^express GET \/intercepted\/hello/)).toMatch(
      / 503 · the upstream's 503, answered with our page \(intercept\) · text · Retry-After: 120 · /,
    );

    const cut = await fetch(`${demo.express}/mid-body/hello`);
    expect(cut.status).toBe(200);
    await expect(cut.text()).rejects.toThrow();
    expect(await demo.line(/^express GET \/mid-body\/hello/)).toMatch(
      / 200 · then aborted: the response is truncated · /,
    );
  });

  it('has a maintenance scenario with an end, and a switch for the whole gateway with a bypass header', async () => {
    const demo = await startDemo(0);

    const planned = await fetch(`${demo.koa}/maintenance/hello`);
    expect(planned.status).toBe(503);
    expect(Number(planned.headers.get('retry-after'))).toBeGreaterThan(25 * 60);
    expect(await planned.text()).toContain('We are doing some planned maintenance');
    expect(await demo.line(/^koa +GET \/maintenance\/hello/)).toMatch(/ 503 · proxy_internal_response · text · /);

    const on = await fetch(`${demo.express}/maintenance-switch`, { method: 'POST', redirect: 'manual' });
    expect(on.status).toBe(303);
    expect(on.headers.get('location')).toBe('/');
    for (const base of [demo.express, demo.koa]) {
      const down = await fetch(`${base}/healthy/hello`);
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toBe('5');
      expect(await down.text()).toContain('Please try again in 5 seconds.');
      const index = await fetch(`${base}/`);
      expect(index.status).toBe(200);
      expect(await index.text()).toContain('Maintenance is <strong>on</strong>');
    }
    const bypass = await fetch(`${demo.koa}/healthy/hello`, {
      headers: { 'x-maintenance-bypass': 'demo-bypass-token' },
    });
    expect(bypass.status).toBe(200);
    expect(await demo.line(/^koa +GET \/healthy\/hello +200/)).toBeTruthy();

    const off = await fetch(`${demo.koa}/maintenance-switch`, { method: 'POST', redirect: 'manual' });
    expect(off.status).toBe(303);
    expect((await fetch(`${demo.express}/healthy/hello`)).status).toBe(200);
  });

  it('links the preview of every page, which answers only under NODE_ENV=development', async () => {
    const production = await startDemo(0);
    expect(production.banner).toContain('/_errors (off: NODE_ENV is not development)');
    for (const base of [production.express, production.koa]) {
      expect(await (await fetch(`${base}/`)).text()).toContain('<strong>off here</strong> (NODE_ENV is "production")');
      expect((await fetch(`${base}/_errors`)).status).toBe(404);
    }
    const exited = once(child as ChildProcess, 'exit');
    child?.kill('SIGTERM');
    await exited;

    const development = await startDemo(0, 'development');
    expect(development.banner).toMatch(/http:\/\/127\.0\.0\.1:\d+\/_errors \(on\)/);
    for (const base of [development.express, development.koa]) {
      expect(await (await fetch(`${base}/`)).text()).toContain('href="/_errors"');
      const index = await fetch(`${base}/_errors`);
      expect(index.status).toBe(200);
      expect(await index.text()).toContain('<h1>Error pages of gateway-errors demo</h1>');
      const page = await fetch(`${base}/_errors?page=maintenance&lang=fr`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html lang="fr"');
    }
  });

  it('takes the next free port when the one asked for is taken, and says so', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;

    const demo = await startDemo(taken);
    const port = Number(new URL(demo.express).port);
    expect(port).toBeGreaterThan(taken);
    expect(demo.banner).toMatch(
      new RegExp(`Express gateway: http://127\\.0\\.0\\.1:${port}/ \\(${taken}(-\\d+)? taken\\)`),
    );
    expect(Number(new URL(demo.koa).port)).toBeGreaterThan(port);
    expect((await fetch(`${demo.express}/healthy/hello`)).status).toBe(200);
  });
});
