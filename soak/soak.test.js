// The short soak, as part of `pnpm test` (its own vitest group, after every other test): both adapters, about 20 s of
// load each, in child processes. It fails on any wrong answer, uncaught error, hung request, or a gateway whose
// connections, sockets, active resources or RSS do not come back to their warm-up baseline; the figures are printed.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { markdownTable } from './routes.js';

const root = fileURLToPath(new URL('..', import.meta.url));

it('docs/reliability.md shows the table the checker reads', () => {
  expect(readFileSync(join(root, 'docs/reliability.md'), 'utf8')).toContain(markdownTable());
});

it('soaks both adapters: every answer right, nothing hung or uncaught, back to the baseline', async () => {
  const json = join(mkdtempSync(join(tmpdir(), 'soak-')), 'soak.json');
  const output = [];
  const code = await new Promise((resolve) => {
    // The same node that runs the tests (`pnpm test:node <major>` included).
    const child = spawn(process.execPath, [join(root, 'soak/run.js'), '--seconds', '20', '--json', json], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
    child.on('close', resolve);
  });
  console.log(Buffer.concat(output).toString());
  const { ok, results } = JSON.parse(readFileSync(json, 'utf8'));
  expect(results.map((result) => [result.adapter, result.wrong, result.failures])).toEqual([
    ['express', 0, []],
    ['koa', 0, []],
  ]);
  for (const result of results) expect(result.requests).toBeGreaterThan(1000);
  expect(ok).toBe(true);
  expect(code).toBe(0);
});
