export { ProxyTimeoutError } from './attempt.js';
export { type BackoffOptions, backoffDelay, type RetryTiming, retryDelay, sleep } from './backoff.js';
export {
  type Balancer,
  type BalancerOptions,
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
} from './breaker.js';
export { classify, clientWentAway } from './classify.js';
export type { Clock } from './clock.js';
export {
  BadGatewayError,
  errorOf,
  GatewayError,
  type GatewayErrorCode,
  type GatewayErrorOptions,
  GatewayTimeoutError,
  isGatewayError,
  ServiceUnavailableError,
} from './errors.js';
export {
  declaredFailure,
  type FailureDetails,
  failureOf,
  type GatewayFailure,
  isRetrySafe,
  type Timings,
} from './failure.js';
export {
  createHealthChecker,
  type HealthChecker,
  type HealthCheckOptions,
  type HealthCheckResult,
} from './health.js';
export { type Admission, type ConcurrencyLimiter, type ConcurrencyOptions, createLimiter } from './limiter.js';
export {
  type LogLevel,
  type LogLevels,
  type LogMethod,
  type LogToOptions,
  logTo,
  type StructuredLogger,
} from './logger.js';
export {
  createMaintenance,
  type MaintenanceAllowList,
  type MaintenanceGate,
  type MaintenanceOptions,
} from './maintenance.js';
export { builtInMessages, englishMessages, type MessageOverrides, type Messages, type PageCopy } from './messages.js';
export { localeNegotiator, negotiateFormat, type ResponseFormat } from './negotiate.js';
export type {
  ClientStall,
  ProxyBreakerEvent,
  ProxyHealthEvent,
  ProxyRejectEvent,
  ProxyResponseEvent,
  ProxyRetryEvent,
  RenderFailure,
  TimeoutName,
} from './proxy.js';
export {
  createProxy,
  type GatewayProxy,
  type ProxyAbortEvent,
  type ProxyEvent,
  type ProxyEvents,
  type ProxyFailureEvent,
  type ProxyOptions,
  type RetryOptions,
  type TimeoutOptions,
  type UpstreamTlsOptions,
} from './proxy.js';
export { appendProxyStatus, formatProxyStatus, type ProxyStatusEntry } from './proxy-status.js';
export type { RejectReason } from './reject.js';
export { type PageContext, type RenderedError, relativeTime, type SiteLocals } from './render.js';
export { ConsumedBodyError } from './request-body.js';
export { requestIdOf } from './request-id.js';
export { abortResponse, mergeVary, writeError } from './respond.js';
export {
  createErrorResponder,
  defaultErrorResponder,
  type ErrorResponder,
  type ErrorResponseOptions,
  type NonceSource,
  type RenderHook,
  type RenderRequest,
} from './responder.js';
export {
  clampRetryAfter,
  defaultRetryAfterPolicy,
  parseHttpDate,
  parseRetryAfter,
  type ResolvedRetryAfterPolicy,
  type RetryAfterPolicy,
  resolveRetryAfterPolicy,
} from './retry-after.js';
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions } from './retry-budget.js';
export {
  createRobotsKeeper,
  type RobotsCopy,
  type RobotsKeeper,
  type RobotsOptions,
  type RobotsSource,
} from './robots.js';
export {
  createTargetPool,
  type PassiveHealthOptions,
  type Target,
  type TargetHealthChange,
  type TargetPool,
  type TargetPoolOptions,
} from './targets.js';
export { type FailurePhase, type FailureRule, type FailureType, failureRules, isFailureType } from './taxonomy.js';
export { defaultTemplatesDir, escapeHtml } from './templates.js';
export type { UpgradeListener } from './upgrade.js';
export { type AttemptResult, type Verdict, verdictOf } from './verdict.js';
