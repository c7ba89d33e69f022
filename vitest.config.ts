import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `source` export condition, so tests need no
// build; the packed-tarball test checks the built `exports` separately.
const conditions = ['source'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    testTimeout: 15_000,
    hookTimeout: 15_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'tests',
          include: [
            'packages/*/test/**/*.test.ts',
            'test/**/*.test.ts',
            'examples/*/test/**/*.test.ts',
            'soak/check.test.js',
          ],
        },
      },
      {
        // The soak loads the machine for about a minute: it runs alone, after every other test (a later group), so it
        // neither slows the timing-sensitive tests nor is slowed by them. It runs the built packages (`pnpm test`
        // builds first).
        extends: true,
        test: {
          name: 'soak',
          include: ['soak/soak.test.js'],
          sequence: { groupOrder: 1 },
          testTimeout: 600_000,
        },
      },
    ],
  },
});
