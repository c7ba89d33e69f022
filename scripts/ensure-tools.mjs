#!/usr/bin/env node
// Makes sure the tests have the programs they drive, from Debian's packages: run first by `pnpm test`.
//
//   chromium      the browser tests (test/browser), through playwright-core
//   redis-server  the tests of state shared between gateway instances (packages/redis, test/fleet*)
//
// - every program present (CHROMIUM_PATH, default /usr/bin/chromium; REDIS_SERVER_PATH, default
//   /usr/bin/redis-server): nothing to do.
// - some missing, and we are root on a machine with apt-get (a Debian container, CI): apt-get install -y them, after
//   an apt-get update when the package lists do not know them yet. The redis-server package's own service is not
//   used: each test file starts its own server on a free loopback port.
// - otherwise: say how to install them and exit 0. Their tests then skip with a message, except in CI (CI set),
//   where a missing program is a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const tools = [
  { pkg: 'chromium', variable: 'CHROMIUM_PATH', path: '/usr/bin/chromium', tests: 'the browser tests in test/browser' },
  {
    pkg: 'redis-server',
    variable: 'REDIS_SERVER_PATH',
    path: '/usr/bin/redis-server',
    tests: 'the Redis tests (packages/redis, test/fleet*)',
  },
].map((tool) => ({ ...tool, path: process.env[tool.variable] ?? tool.path }));

const missing = tools.filter((tool) => !existsSync(tool.path));
if (missing.length === 0) process.exit(0);

const inCI = Boolean(process.env.CI);
const isRoot = process.getuid?.() === 0;
const hasAptGet = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;
// A path set by hand is not one apt-get would fill.
const installable = missing.filter((tool) => process.env[tool.variable] === undefined);

if (!isRoot || !hasAptGet || installable.length === 0) {
  for (const tool of missing) {
    console.log(
      [
        `ensure-tools: no ${tool.pkg} at ${tool.path}; ${tool.tests} will be skipped${inCI ? ' (and fail, since CI is set)' : ''}.`,
        `  Debian/Ubuntu: sudo apt-get install -y ${tool.pkg}`,
        `  elsewhere: point ${tool.variable} at the program, for example`,
        tool.pkg === 'chromium'
          ? '    CHROMIUM_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" pnpm test'
          : '    REDIS_SERVER_PATH="$(command -v redis-server)" pnpm test',
      ].join('\n'),
    );
  }
  process.exit(0);
}

// Wait for a dpkg lock held by another apt run instead of failing at once; never ask a question.
const apt = (...args) => {
  console.log(`ensure-tools: apt-get ${args.join(' ')}`);
  return spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  }).status;
};
const known = (pkg) => {
  const policy = spawnSync('apt-cache', ['policy', pkg], { encoding: 'utf8' });
  return policy.status === 0 && /Candidate: (?!\(none\))/.test(policy.stdout);
};

const packages = installable.map((tool) => tool.pkg);
if (!packages.every(known) && apt('update') !== 0) {
  console.error('ensure-tools: apt-get update failed; trying the install anyway.');
}
const status = apt('install', '-y', ...packages);
const stillMissing = installable.filter((tool) => !existsSync(tool.path));
if (status === 0 && stillMissing.length === 0) {
  for (const tool of installable) console.log(`ensure-tools: installed ${tool.path}`);
  process.exit(0);
}
console.error(
  `ensure-tools: could not install ${stillMissing.map((tool) => tool.pkg).join(', ') || packages.join(', ')} (apt-get exited with ${status}).`,
);
// In CI their tests would fail anyway: fail here, where the apt-get output explains why.
process.exit(inCI ? 1 : 0);
