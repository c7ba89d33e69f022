/**
 * Settings of the property tests (fast-check). CI runs a fixed number of runs with a fixed seed per run of the
 * suite, so a failure is reproducible from the seed fast-check prints; `pnpm fuzz` runs many more, with fresh seeds.
 *
 * - `FUZZ_RUNS`: runs per property (default 200; `pnpm fuzz` sets 20000).
 * - `FUZZ_SEED`: the seed (default: fixed under CI, fresh otherwise).
 */
import type { Parameters } from 'fast-check';

const runs = Number(process.env.FUZZ_RUNS ?? 200);
const seed =
  process.env.FUZZ_SEED === undefined ? (process.env.CI ? 20261126 : undefined) : Number(process.env.FUZZ_SEED);

/** Parameters for `fc.assert(property, propertyRuns())`; `scale` shrinks the count for properties over real sockets. */
export function propertyRuns<T>(scale = 1): Parameters<T> {
  return {
    numRuns: Math.max(1, Math.round(runs * scale)),
    ...(seed === undefined ? {} : { seed }),
  };
}
