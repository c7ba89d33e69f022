#!/usr/bin/env node
// `pnpm pack-all [folder]`: builds every publishable package and packs it into one folder (default
// artifacts/tarballs), as the registry would serve it: `pnpm pack` rewrites the `workspace:` dependencies between
// our packages into real version ranges, which `npm pack` would leave behind (npm then refuses the tarball with
// EUNSUPPORTEDPROTOCOL). Prints the `npm install` line that uses them from another project.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const folder = resolve(process.argv[2] ?? join(root, 'artifacts/tarballs'));
const run = (args, cwd) => execFileSync('pnpm', args, { cwd, stdio: ['ignore', 'ignore', 'inherit'] });

run(['build'], root);
rmSync(folder, { recursive: true, force: true });
mkdirSync(folder, { recursive: true });
const packages = readdirSync(join(root, 'packages')).filter((name) => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
  return manifest.private !== true;
});
for (const name of packages) run(['pack', '--pack-destination', folder], join(root, 'packages', name));

const tarballs = readdirSync(folder)
  .filter((file) => file.endsWith('.tgz'))
  .map((file) => join(folder, file));
console.log(`Packed ${tarballs.length} packages into ${folder}:`);
for (const tarball of tarballs) console.log(`  ${tarball}`);
console.log('\nIn your project, install the adapter you use together with the core it depends on, for example:');
const pick = (name) => tarballs.find((tarball) => tarball.includes(`gateway-errors-${name}-`));
console.log(`  npm install ${pick('core')} ${pick('express')}`);
