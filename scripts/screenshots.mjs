#!/usr/bin/env node
// `pnpm screenshots`: the pictures of docs/error-pages.md's "Make the pages yours", taken from the custom-templates
// example (examples/custom-templates) in front of a catalogue that is down, with Debian's chromium driven by
// playwright-core, as the browser tests drive it. Writes docs/screenshots/customise-*.png. The built packages are used
// (`pnpm screenshots` builds first). CHROMIUM_PATH names another Chromium.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { refusingUpstream } from '@gateway-errors/testing';
import { chromium } from 'playwright-core';
import { createApp } from '../examples/custom-templates/app.js';

const root = resolve(import.meta.dirname, '..');
const folder = join(root, 'docs/screenshots');

// file, path of the example, Accept-Language, colour scheme
const shots = [
  ['customise-1-locals.png', '/locals/books', 'en', 'light'],
  ['customise-2-messages.png', '/messages/books', 'en', 'light'],
  ['customise-2-messages-nl.png', '/messages/books', 'nl', 'light'],
  ['customise-3-partial.png', '/partial/books', 'en', 'light'],
  ['customise-4-template.png', '/template/books', 'en', 'light'],
  ['customise-4-template-dark.png', '/template/books', 'en', 'dark'],
];

const catalogue = await refusingUpstream();
const server = createServer(createApp({ catalogueUrl: catalogue.url }));
await new Promise((done) => server.listen(0, '127.0.0.1', done));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  mkdirSync(folder, { recursive: true });
  for (const [file, path, locale, colorScheme] of shots) {
    // A context per picture: its own language and colour scheme. The page's countdown is frozen at its first second.
    const context = await browser.newContext({ viewport: { width: 800, height: 600 }, locale, colorScheme });
    const page = await context.newPage();
    const response = await page.goto(`${base}${path}`);
    if (response?.status() !== 502) throw new Error(`${path} answered ${response?.status()}, not the 502 page`);
    await page.screenshot({ path: join(folder, file), fullPage: true });
    await context.close();
    console.log(`docs/screenshots/${file}`);
  }
} finally {
  await browser.close();
  server.close();
  await catalogue.close();
}
