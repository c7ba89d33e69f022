/**
 * The packages as users get them before the first release, by the README's own path: `pnpm pack-all` writes the
 * tarballs (after building), and a fresh project installs them with plain npm (the registry serves their
 * dependencies and the frameworks). Then plain Node imports them (ESM `import` and `require()`) and a consumer
 * type-checks against them. A broken `exports` map, a file missing from `files`, a `workspace:` range left in a
 * manifest, or a dependency that only resolves inside the workspace fails here, not in a user's install.
 *
 * Every `node` here is the one running the tests (`process.execPath`), so `pnpm test:node 22` checks Node 22's
 * `require(esm)`, not whichever `node` comes first in PATH.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
let fixture: string;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  fixture = mkdtempSync(join(tmpdir(), 'gateway-errors-packed-'));
  const tarballs = join(fixture, 'tarballs');
  run(process.execPath, [join(root, 'scripts/pack-all.mjs'), tarballs], root);
  writeFileSync(join(fixture, 'package.json'), JSON.stringify({ name: 'fixture', private: true, type: 'module' }));
  const packed = readdirSync(tarballs).map((file) => join(tarballs, file));
  expect(packed).toHaveLength(5);
  // The frameworks are peer dependencies: npm installs them with the adapters; the Redis client is a dependency.
  run(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      ...packed,
      'koa-mount',
      '@types/node@20',
      '@types/express',
    ],
    fixture,
  );
}, 180_000);
afterAll(() => {
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

describe('packed tarballs', () => {
  it('ship dist, templates and sources, and no tests', () => {
    const files = run('find', ['node_modules/@gateway-errors', '-type', 'f'], fixture).split('\n');
    expect(files).toContain('node_modules/@gateway-errors/core/templates/layout.ejs');
    expect(files).toContain('node_modules/@gateway-errors/core/dist/index.d.ts');
    expect(files).toContain('node_modules/@gateway-errors/core/dist/unstable-internals.d.ts');
    for (const name of ['core', 'express', 'koa', 'redis', 'testing']) {
      expect(files).toContain(`node_modules/@gateway-errors/${name}/LICENSE`);
    }
    expect(files.filter((file) => /\/test\/|\.test\.|tsbuildinfo/.test(file))).toEqual([]);
  });

  it('import with plain Node and answer a failure end to end', () => {
    const script = `
      import { createServer } from 'node:http';
      import express from 'express';
      import { gatewayErrors, gatewayProxy } from '@gateway-errors/express';
      import * as koa from '@gateway-errors/koa';
      import { failureOf } from '@gateway-errors/core/unstable-internals';
      import { refusingUpstream } from '@gateway-errors/testing';
      import { redisStore } from '@gateway-errors/redis';
      if (typeof koa.gatewayProxy !== 'function') throw new Error('koa adapter');
      // Its Redis client came from the registry; nothing listens on port 1, and close() ends the reconnecting.
      const store = redisStore({ url: 'redis://127.0.0.1:1', warn: false });
      if (store.kind !== 'redis' || (await store.get('state')) !== undefined) throw new Error('redis store');
      await store.close();
      if (failureOf('connection_refused').status !== 502) throw new Error('core/unstable-internals');
      // The middleware is named for stack traces and router debug output, in the built code too.
      const names = [gatewayErrors(), gatewayProxy({ target: 'http://127.0.0.1:1' }), koa.maintenance()].map((m) => m.name);
      if (names.join() !== 'gatewayErrors,gatewayProxy,maintenance') throw new Error('names: ' + names);
      const upstream = await refusingUpstream();
      const app = express();
      app.use(gatewayProxy({ target: upstream.url, retry: false }));
      app.use(gatewayErrors());
      const server = createServer(app).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const res = await fetch('http://127.0.0.1:' + server.address().port + '/', { headers: { accept: 'text/html' } });
      const body = await res.text();
      console.log(res.status, res.headers.get('proxy-status'), body.includes('<html lang="en"'));
      server.close();
    `;
    expect(run(process.execPath, ['--input-type=module', '-e', script], fixture).trim()).toBe(
      '502 gateway-errors; error=connection_refused true',
    );
  });

  it('load with require() on Node 20.19+, 22.12+ and 24+ (require of ESM)', () => {
    const script = `const core = require('@gateway-errors/core');
      const internals = require('@gateway-errors/core/unstable-internals');
      const redis = require('@gateway-errors/redis');
      console.log(typeof core.classify, typeof core.createProxy, typeof internals.createBreaker, typeof redis.redisStore);`;
    expect(run(process.execPath, ['-e', script], fixture).trim()).toBe('function function function function');
  });

  it('type-check in a consumer project', () => {
    writeFileSync(
      join(fixture, 'consumer.ts'),
      `import { gatewayErrors, gatewayProxy, ServiceUnavailableError, type GatewayFailure } from '@gateway-errors/express';
       import { gatewayErrors as koaErrors } from '@gateway-errors/koa';
       import { hangingUpstream, type Upstream } from '@gateway-errors/testing';
       import { redisStore, type RedisStoreOptions } from '@gateway-errors/redis';
       import type { GatewayStore } from '@gateway-errors/core';
       const storeOptions: RedisStoreOptions = { url: 'redis://127.0.0.1:6379', timeout: 20 };
       const store: GatewayStore = redisStore(storeOptions);
       import { createBreaker, type CircuitBreaker } from '@gateway-errors/core/unstable-internals';
       const breaker: CircuitBreaker = createBreaker({ consecutiveFailures: 3 });
       const handler = gatewayErrors({ locals: { siteName: 'Acme' } });
       const proxy = gatewayProxy({ target: 'http://127.0.0.1:4000', timeouts: { connect: 2000 } });
       const error = new ServiceUnavailableError({ retryAfter: 120 });
       const failure: GatewayFailure = error.failure;
       const upstream: Promise<Upstream> = hangingUpstream();
       export { handler, proxy, failure, upstream, koaErrors, breaker, store };\n`,
    );
    writeFileSync(
      join(fixture, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          types: ['node'],
          skipLibCheck: false,
        },
        files: ['consumer.ts'],
      }),
    );
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], fixture);
    // A hang guard, not a margin: checking every declaration file (skipLibCheck off, as a strict consumer does) takes
    // about 6 s on a quiet machine and three times that on a busy one; the outcome does not depend on it.
  }, 120_000);

  it('run on the Node the tests were started on, as does a `node` a test starts from PATH', () => {
    // `pnpm test:node <line>` says which Node it started; with plain `pnpm test`, the one running vitest.
    const expected = process.env.GATEWAY_ERRORS_TEST_NODE ?? process.versions.node;
    expect(process.versions.node).toBe(expected);
    expect(run('node', ['-p', 'process.versions.node'], fixture).trim()).toBe(expected);
  });
});
