/**
 * `@gateway-errors/core/unstable-internals`: the building blocks the core is made of, for tests, tools and experiments.
 * No compatibility promise: any of these may change or go in any release, minor or patch. What users and adapter
 * authors need is in `@gateway-errors/core`; build on that.
 *
 * @packageDocumentation
 */

export { booleanOption, checkOptions, fraction, positiveNumber, statusList, wholeNumber } from './config/index.js';
export {
  appendProxyStatus,
  clampRetryAfter,
  declaredFailure,
  defaultRetryAfterPolicy,
  errorOf,
  type FailureDetails,
  type FailureRule,
  failureOf,
  failureRules,
  formatProxyStatus,
  isFailureType,
  isRetrySafe,
  type ProxyStatusEntry,
  parseHttpDate,
  parseRetryAfter,
  receivedFailure,
  resolveRetryAfterPolicy,
  retryAfterFor,
} from './failure/index.js';
export { originalUrlOf, rejection, requestIdOf, writeRejection } from './node-http/index.js';
export type { FinishedAttempt } from './proxy/index.js';
export {
  type Admission,
  type AttemptOutcome,
  type Balancer,
  type BalancerEvents,
  type BalancerOptions,
  type BalancerRuntime,
  type BreakerEvents,
  type BreakerPermit,
  type BreakerStateChange,
  backoffDelay,
  type Choice,
  type CircuitBreaker,
  type Clock,
  type ConcurrencyLimiter,
  createBalancer,
  createBreaker,
  createHealthChecker,
  createLimiter,
  createRetryBudget,
  createRobotsKeeper,
  createTargetPool,
  defaultBackoff,
  type HealthCheckConnection,
  type HealthChecker,
  type HealthCheckerEvents,
  type HealthCheckResult,
  type RetryBudget,
  type RetryTiming,
  type RobotsCopy,
  type RobotsKeeper,
  type RobotsSource,
  retryDelay,
  sleep,
  type Target,
  type TargetBreakerChange,
  type TargetHealthChange,
  type TargetPool,
  type TargetPoolEvents,
  type TargetPoolRuntime,
  type Verdict,
  verdictOf,
} from './resilience/index.js';
export {
  abortResponse,
  defaultErrorResponder,
  defaultTemplatesDir,
  escapeHtml,
  localeNegotiator,
  mergeVary,
  negotiateFormat,
  relativeTime,
  takesError,
  writeError,
} from './response/index.js';
