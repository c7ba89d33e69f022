/**
 * resilience/: what protects an upstream, and the site, when it fails. backoff.ts and retry-budget.ts decide
 * whether and when a retry goes; breaker.ts is a circuit breaker per target, targets.ts the pool of targets in
 * rotation (passive health) and health.ts its active checks, balancer.ts where each attempt goes (verdict.ts: what
 * an attempt's end says of the upstream); shared-circuit.ts shares a breaker's open circuit through a store when
 * asked; limiter.ts bounds the requests in flight; robots.ts keeps robots.txt from ever answering 5xx and stale.ts
 * answers failed GETs with stale copies (stale-if-error; cache-rules.ts says what may be kept), both with copies kept
 * by copies.ts (in memory, and in a shared store: store/); maintenance.ts is the maintenance gate. Each validates its
 * options once and takes a clock (clock.ts) for tests.
 */
export { type BackoffOptions, backoffDelay, defaultBackoff, type RetryTiming, retryDelay, sleep } from './backoff.js';
export {
  type Balancer,
  type BalancerEvents,
  type BalancerOptions,
  type BalancerRuntime,
  type Choice,
  createBalancer,
  type TargetBreakerChange,
} from './balancer.js';
export {
  type BreakerEvents,
  type BreakerOptions,
  type BreakerPermit,
  type BreakerReason,
  type BreakerState,
  type BreakerStateChange,
  type CircuitBreaker,
  createBreaker,
  type ResolvedBreakerOptions,
  resolveBreakerOptions,
} from './breaker.js';
export {
  type CacheDirectives,
  framed,
  initialAge,
  type Keepable,
  type KeepRules,
  keepable,
  type NotKept,
  parseCacheControl,
  type RequestHead,
  type ResponseHead,
  varyFields,
} from './cache-rules.js';
export type { Clock } from './clock.js';
export { type Copy, type CopySource, copySource, type StandIn, sharedReadWait } from './copies.js';
export {
  createHealthChecker,
  type HealthCheckConnection,
  type HealthChecker,
  type HealthCheckerEvents,
  type HealthCheckOptions,
  type HealthCheckResult,
} from './health.js';
export { type Admission, type ConcurrencyLimiter, type ConcurrencyOptions, createLimiter } from './limiter.js';
export {
  createMaintenance,
  letThroughMaintenance,
  type MaintenanceAllowList,
  type MaintenanceChange,
  type MaintenanceGate,
  type MaintenanceGateEvents,
  type MaintenanceOptions,
} from './maintenance.js';
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
export { createRobotsKeeper, type RobotsContext, type RobotsKeeper, type RobotsOptions } from './robots.js';
export { type CircuitSharing, shareCircuit } from './shared-circuit.js';
export {
  createStaleKeeper,
  type ResolvedStaleIfErrorOptions,
  resolveStaleIfError,
  type StaleContext,
  type StaleIfErrorOptions,
  type StaleKeeper,
} from './stale.js';
export {
  createTargetPool,
  type PassiveHealthOptions,
  type Target,
  type TargetHealthChange,
  type TargetPool,
  type TargetPoolEvents,
  type TargetPoolOptions,
  type TargetPoolRuntime,
} from './targets.js';
export { type AttemptOutcome, type Verdict, verdictOf } from './verdict.js';
