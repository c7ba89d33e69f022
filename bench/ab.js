// `pnpm bench:ab <git ref> [express|koa] [happy|error]`: this working tree's build against another commit's, side by
// side, for a change too small for `pnpm bench` to see on a noisy host. Both gateways run at once, each in its own
// process, and take turns under wrk (or autocannon) in alternating order; what is compared is each one's own CPU
// time per request, round by round. The other commit is checked out into a temporary git worktree, installed from
// the local pnpm store and built; the worktree is removed at the end. Loopback only, bounded: AB_ROUNDS rounds
// (default 14) of AB_DURATION seconds (default 2) per side.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadGenerator } from './load.js';
import { ask, median, refusedPort, start } from './processes.js';

const [ref, framework = 'koa', scenario = 'error'] = process.argv.slice(2);
if (ref === undefined || !['express', 'koa'].includes(framework) || !['happy', 'error'].includes(scenario)) {
  console.error('usage: pnpm bench:ab <git ref> [express|koa] [happy|error]');
  process.exit(2);
}
const rounds = Number(process.env.AB_ROUNDS ?? 14);
const duration = Number(process.env.AB_DURATION ?? 2);
const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..');

const run = (command, args, cwd) => execFileSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
const worktree = join(mkdtempSync(join(tmpdir(), 'gateway-errors-ab-')), 'tree');
const children = [];
try {
  run('git', ['worktree', 'add', '--detach', worktree, ref], root);
  run('pnpm', ['install', '--offline', '--frozen-lockfile'], worktree);
  run('pnpm', ['build'], worktree);
  run('pnpm', ['build'], root);

  const upstream = await start(join(here, 'upstream.js'), []);
  children.push(upstream.child);
  const target = scenario === 'happy' ? `http://127.0.0.1:${upstream.port}` : `http://127.0.0.1:${await refusedPort()}`;
  const sides = {};
  for (const [name, tree] of [
    [ref, worktree],
    ['working tree', root],
  ]) {
    sides[name] = await start(join(here, 'contender.js'), [`${framework}+gateway-errors`, target, scenario, tree]);
    children.push(sides[name].child);
  }
  const generator = await loadGenerator();
  const headers = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
  for (const side of Object.values(sides))
    await generator.run({ port: side.port, duration: 1, connections: 32, headers });
  const ratios = [];
  for (let round = 0; round < rounds; round++) {
    const cpu = {};
    const order = round % 2 === 0 ? Object.keys(sides) : Object.keys(sides).reverse();
    for (const name of order) {
      const { child, port } = sides[name];
      const before = (await ask(child, 'cpu')).cpu;
      const result = await generator.run({ port, duration, connections: 32, headers });
      cpu[name] = ((await ask(child, 'cpu')).cpu - before) / result.requests;
    }
    const ratio = cpu[ref] / cpu['working tree'];
    ratios.push(ratio);
    console.log(
      `round ${round + 1}: ${ref} ${cpu[ref].toFixed(1)} µs, working tree ${cpu['working tree'].toFixed(1)} µs of CPU per request (${ratio.toFixed(3)})`,
    );
  }
  console.log(
    `${framework}, ${scenario} path: ${ref} over the working tree, median of ${rounds} rounds: ${median(ratios).toFixed(3)}` +
      ' (above 1: the working tree spends less CPU per request)',
  );
} finally {
  for (const child of children) child.kill();
  try {
    run('git', ['worktree', 'remove', '--force', worktree], root);
  } catch {}
  rmSync(join(worktree, '..'), { recursive: true, force: true });
}
