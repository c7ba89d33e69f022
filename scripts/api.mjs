// The API reports: one per entry point of each package (packages/<name>/api/<entry>.api.md), written by API
// Extractor from the built .d.ts files, so that every change to a public surface is a visible diff in review.
//   node scripts/api.mjs          writes the reports (pnpm api, after pnpm build)
//   node scripts/api.mjs --check  fails when a report differs from the code (pnpm test and CI run it)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const root = resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');

/** Every entry point in a package's `exports` map, by report name. */
const entries = [
  ['core', 'core', 'index'],
  // Its signatures use the public entry's types, which its users import from there.
  ['core', 'core-unstable-internals', 'unstable-internals', { 'ae-forgotten-export': { logLevel: 'none' } }],
  ['express', 'express', 'index'],
  ['koa', 'koa', 'index'],
  ['redis', 'redis', 'index'],
  ['testing', 'testing', 'index'],
];

// Findings that are not about the surface: our JSDoc is not TSDoc (`@default` with prose, `{@link}` to a method),
// and release tags are not used. A type an entry uses without exporting it is reported in the report itself.
const quiet = { logLevel: 'none' };
const messages = {
  compilerMessageReporting: { default: { logLevel: 'warning' } },
  extractorMessageReporting: {
    default: { logLevel: 'warning' },
    'ae-missing-release-tag': quiet,
    'ae-forgotten-export': { logLevel: 'none', addToApiReportFile: true },
    'ae-unresolved-link': quiet,
    // Every export has its JSDoc (STYLE.md); not every field of every event type.
    'ae-undocumented': quiet,
  },
  tsdocMessageReporting: { default: quiet },
};

const temp = mkdtempSync(join(tmpdir(), 'gateway-errors-api-'));
let failed = false;
try {
  for (const [pkg, report, entry, overrides = {}] of entries) {
    const projectFolder = join(root, 'packages', pkg);
    const config = ExtractorConfig.prepare({
      configObject: {
        projectFolder,
        mainEntryPointFilePath: join(projectFolder, 'dist', `${entry}.d.ts`),
        compiler: { tsconfigFilePath: join(projectFolder, 'tsconfig.json') },
        apiReport: {
          enabled: true,
          reportFileName: report,
          reportFolder: join(projectFolder, 'api'),
          reportTempFolder: temp,
        },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        messages: {
          ...messages,
          extractorMessageReporting: { ...messages.extractorMessageReporting, ...overrides },
        },
      },
      configObjectFullPath: join(projectFolder, 'api-extractor.json'),
      packageJsonFullPath: join(projectFolder, 'package.json'),
    });
    const result = Extractor.invoke(config, {
      localBuild: !check,
      showVerboseMessages: false,
      messageCallback: (message) => {
        // API Extractor's bundled compiler is newer than ours; it says so, and it reads our .d.ts files the same.
        if (message.messageId === 'console-compiler-version-notice' || /bundled TypeScript/.test(message.text)) {
          message.logLevel = 'none';
        }
      },
    });
    if (check && result.apiReportChanged) {
      failed = true;
      console.error(
        `packages/${pkg}/api/${report}.api.md differs from the code: the public surface changed. Run \`pnpm api\` and commit the report, or undo the change.`,
      );
    } else if (!result.succeeded) {
      failed = true;
      console.error(`API Extractor failed for packages/${pkg} (${entry}): ${result.errorCount} errors.`);
    }
  }
} finally {
  rmSync(temp, { recursive: true, force: true });
}
if (failed) process.exit(1);
console.log(check ? 'API reports match the code.' : 'API reports written.');
