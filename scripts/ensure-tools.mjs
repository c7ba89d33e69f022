#!/usr/bin/env node
// Makes sure the browser tests (test/browser) have a chromium to drive: run first by `pnpm test`.
//
// - chromium present (CHROMIUM_PATH, default /usr/bin/chromium): nothing to do.
// - missing, and we are root on a machine with apt-get (a Debian container, CI): apt-get install -y chromium,
//   after an apt-get update when the package lists do not know it yet.
// - otherwise: say how to install it and exit 0. The browser tests then skip with a message, except in CI
//   (CI set), where a missing chromium is a failure.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (existsSync(path)) process.exit(0);

const inCI = Boolean(process.env.CI);
const isRoot = process.getuid?.() === 0;
const hasAptGet = spawnSync('sh', ['-c', 'command -v apt-get'], { stdio: 'ignore' }).status === 0;

if (!isRoot || !hasAptGet || process.env.CHROMIUM_PATH !== undefined) {
  console.log(
    [
      `ensure-chromium: no chromium at ${path}; the browser tests in test/browser will be skipped${inCI ? ' (and fail, since CI is set)' : ''}.`,
      '  Debian/Ubuntu: sudo apt-get install -y chromium',
      '  elsewhere: point CHROMIUM_PATH at a Chromium or Chrome binary, for example',
      '    CHROMIUM_PATH="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" pnpm test',
    ].join('\n'),
  );
  process.exit(0);
}

// Wait for a dpkg lock held by another apt run instead of failing at once; never ask a question.
const apt = (...args) => {
  console.log(`ensure-chromium: apt-get ${args.join(' ')}`);
  return spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', ...args], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  }).status;
};
const known = () => {
  const policy = spawnSync('apt-cache', ['policy', 'chromium'], { encoding: 'utf8' });
  return policy.status === 0 && /Candidate: (?!\(none\))/.test(policy.stdout);
};

if (!known() && apt('update') !== 0)
  console.error('ensure-chromium: apt-get update failed; trying the install anyway.');
const status = apt('install', '-y', 'chromium');
if (status === 0 && existsSync(path)) {
  console.log(`ensure-chromium: installed ${path}`);
  process.exit(0);
}
console.error(`ensure-chromium: could not install chromium (apt-get exited with ${status}).`);
// In CI the browser tests would fail anyway: fail here, where the apt-get output explains why.
process.exit(inCI ? 1 : 0);
