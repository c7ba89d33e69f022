/**
 * The browser every browser test drives: Debian's chromium through playwright-core (a browser download by a test
 * tool fails on our machines). Missing outside CI, the tests are skipped with a message; in CI they fail.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const available = existsSync(executablePath);
export const inCI = Boolean(process.env.CI);
/** Whether browser tests run here: chromium is installed, or this is CI, where its absence must fail them. */
export const runs = available || inCI;

if (!available && !inCI) {
  console.warn(
    `\n  Browser tests skipped: no chromium at ${executablePath}. Install it (Debian/Ubuntu: sudo apt-get install -y ` +
      'chromium), or set CHROMIUM_PATH. `pnpm test` installs it when run as root; in CI a missing chromium fails.\n',
  );
}

/** Launches headless chromium with the flags a sandboxed CI machine needs, and any `extra` ones. */
export function launch(extra: readonly string[] = []): Promise<Browser> {
  if (!available) {
    throw new Error(
      `No chromium at ${executablePath}: the browser tests are required in CI. Install it with apt-get install -y chromium (scripts/ensure-tools.mjs does, as root).`,
    );
  }
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...extra,
    ],
  });
}
