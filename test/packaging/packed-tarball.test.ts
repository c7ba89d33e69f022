/**
 * The packages as users get them: packed tarballs (after `pnpm build`), unpacked into a fixture project's
 * node_modules, imported with plain Node (ESM `import` and `require()`), and type-checked by a consumer. A broken
 * `exports` map, a file missing from `files`, or a dependency that only resolves inside the workspace fails here,
 * not in a user's install. Dependencies are linked from the workspace's store, so no network is needed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const packages = ['core', 'express', 'koa', 'testing'];
const store = join(root, 'node_modules/.pnpm/node_modules');
let fixture: string;

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(() => {
  fixture = mkdtempSync(join(tmpdir(), 'gateway-errors-packed-'));
  const tarballs = join(fixture, 'tarballs');
  const modules = join(fixture, 'node_modules');
  mkdirSync(join(modules, '@gateway-errors'), { recursive: true });
  for (const name of packages) {
    if (!existsSync(join(root, 'packages', name, 'dist/index.js'))) {
      throw new Error(`packages/${name} is not built: run pnpm build first (pnpm test does).`);
    }
    run('pnpm', ['pack', '--pack-destination', tarballs], join(root, 'packages', name));
  }
  for (const tarball of readdirSync(tarballs)) {
    const name = /^gateway-errors-(\w+)-/.exec(tarball)?.[1];
    const target = join(modules, '@gateway-errors', String(name));
    mkdirSync(target);
    run('tar', ['-xzf', join(tarballs, tarball), '-C', target, '--strip-components=1'], fixture);
  }
  // Where pnpm put each dependency depends on the install: a direct dependency of the root or of core, or hoisted.
  const places = [join(root, 'node_modules'), join(root, 'packages/core/node_modules'), store];
  for (const dependency of ['ejs', 'negotiator', 'http-proxy-3', 'express', 'koa', 'koa-mount', '@types']) {
    const found = places.map((place) => join(place, dependency)).find((path) => existsSync(path));
    if (found === undefined) throw new Error(`${dependency} is not installed in the workspace`);
    symlinkSync(found, join(modules, dependency));
  }
  writeFileSync(join(fixture, 'package.json'), JSON.stringify({ name: 'fixture', private: true, type: 'module' }));
}, 120_000);

afterAll(() => {
  if (fixture) rmSync(fixture, { recursive: true, force: true });
});

describe('packed tarballs', () => {
  it('ship dist, templates and sources, and no tests', () => {
    const files = run('find', ['node_modules/@gateway-errors', '-type', 'f'], fixture).split('\n');
    expect(files).toContain('node_modules/@gateway-errors/core/templates/layout.ejs');
    expect(files).toContain('node_modules/@gateway-errors/core/dist/index.d.ts');
    expect(files.filter((file) => /\/test\/|\.test\.|tsbuildinfo/.test(file))).toEqual([]);
  });

  it('import with plain Node and answer a failure end to end', () => {
    const script = `
      import { createServer } from 'node:http';
      import express from 'express';
      import { gatewayErrors, gatewayProxy } from '@gateway-errors/express';
      import * as koa from '@gateway-errors/koa';
      import { refusingUpstream } from '@gateway-errors/testing';
      if (typeof koa.gatewayProxy !== 'function') throw new Error('koa adapter');
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
    expect(run('node', ['--input-type=module', '-e', script], fixture).trim()).toBe(
      '502 gateway-errors; error=connection_refused true',
    );
  });

  it('load with require() on Node 20.19+ (require of ESM)', () => {
    const script = `const core = require('@gateway-errors/core'); console.log(typeof core.classify, typeof core.createProxy);`;
    expect(run('node', ['-e', script], fixture).trim()).toBe('function function');
  });

  it('type-check in a consumer project', () => {
    writeFileSync(
      join(fixture, 'consumer.ts'),
      `import { gatewayErrors, gatewayProxy, ServiceUnavailableError, type GatewayFailure } from '@gateway-errors/express';
       import { gatewayErrors as koaErrors } from '@gateway-errors/koa';
       import { hangingUpstream, type Upstream } from '@gateway-errors/testing';
       const handler = gatewayErrors({ locals: { siteName: 'Acme' } });
       const proxy = gatewayProxy({ target: 'http://127.0.0.1:4000', timeouts: { connect: 2000 } });
       const error = new ServiceUnavailableError({ retryAfter: 120 });
       const failure: GatewayFailure = error.failure;
       const upstream: Promise<Upstream> = hangingUpstream();
       export { handler, proxy, failure, upstream, koaErrors };\n`,
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
    run('node', [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], fixture);
  });
});
