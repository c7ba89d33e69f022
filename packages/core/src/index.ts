export { type ConfigError, type ConfigErrorCode, configError } from './config/config-error.js';
export { classify, clientWentAway } from './failure/classify.js';
export {
  BadGatewayError,
  errorOf,
  GatewayError,
  type GatewayErrorCode,
  type GatewayErrorOptions,
  GatewayTimeoutError,
  isGatewayError,
  ServiceUnavailableError,
} from './failure/errors.js';
export {
  declaredFailure,
  type FailureDetails,
  failureOf,
  type GatewayFailure,
  isRetrySafe,
  type Timings,
} from './failure/failure.js';
export { appendProxyStatus, formatProxyStatus, type ProxyStatusEntry } from './failure/proxy-status.js';
export {
  clampRetryAfter,
  defaultRetryAfterPolicy,
  parseHttpDate,
  parseRetryAfter,
  type ResolvedRetryAfterPolicy,
  type RetryAfterPolicy,
  resolveRetryAfterPolicy,
} from './failure/retry-after.js';
export {
  type FailurePhase,
  type FailureRule,
  type FailureType,
  failureRules,
  isFailureType,
} from './failure/taxonomy.js';
export type { RejectReason } from './node-http/reject.js';
export { requestIdOf } from './node-http/request-id.js';
export type { UpgradeListener } from './node-http/upgrade.js';
export { ProxyTimeoutError } from './proxy/attempt.js';
export {
  type LogLevel,
  type LogLevels,
  type LogMethod,
  type LogToOptions,
  logTo,
  type StructuredLogger,
} from './proxy/logger.js';
export { createProxy, type FailureRenderer, type GatewayProxy } from './proxy/proxy.js';
export type {
  ClientStall,
  ProxyAbortEvent,
  ProxyBreakerEvent,
  ProxyEvent,
  ProxyEvents,
  ProxyFailureEvent,
  ProxyHealthEvent,
  ProxyRejectEvent,
  ProxyResponseEvent,
  ProxyRetryEvent,
  TimeoutName,
} from './proxy/proxy-events.js';
export type { ProxyOptions, RetryOptions, TimeoutOptions, UpstreamTlsOptions } from './proxy/proxy-options.js';
export { ConsumedBodyError } from './proxy/request-body.js';
export { type BackoffOptions, backoffDelay, type RetryTiming, retryDelay, sleep } from './resilience/backoff.js';
export {
  type Balancer,
  type BalancerOptions,
  type Choice,
  createBalancer,
  type TargetBreakerChange,
} from './resilience/balancer.js';
export {
  type BreakerEvents,
  type BreakerOptions,
  type BreakerPermit,
  type BreakerReason,
  type BreakerState,
  type BreakerStateChange,
  type CircuitBreaker,
  createBreaker,
} from './resilience/breaker.js';
export type { Clock } from './resilience/clock.js';
export {
  createHealthChecker,
  type HealthChecker,
  type HealthCheckOptions,
  type HealthCheckResult,
} from './resilience/health.js';
export {
  type Admission,
  type ConcurrencyLimiter,
  type ConcurrencyOptions,
  createLimiter,
} from './resilience/limiter.js';
export {
  createMaintenance,
  type MaintenanceAllowList,
  type MaintenanceGate,
  type MaintenanceOptions,
} from './resilience/maintenance.js';
export { createRetryBudget, type RetryBudget, type RetryBudgetOptions } from './resilience/retry-budget.js';
export {
  createRobotsKeeper,
  type RobotsCopy,
  type RobotsKeeper,
  type RobotsOptions,
  type RobotsSource,
} from './resilience/robots.js';
export {
  createTargetPool,
  type PassiveHealthOptions,
  type Target,
  type TargetHealthChange,
  type TargetPool,
  type TargetPoolOptions,
} from './resilience/targets.js';
export { type AttemptOutcome, type Verdict, verdictOf } from './resilience/verdict.js';
export {
  builtInMessages,
  englishMessages,
  type MessageOverrides,
  type Messages,
  type PageCopy,
} from './response/messages.js';
export { localeNegotiator, negotiateFormat, type ResponseFormat } from './response/negotiate.js';
export { type PageContext, type RenderedError, relativeTime, type SiteLocals } from './response/render.js';
export { createErrorResponder, defaultErrorResponder, type ErrorResponder } from './response/responder.js';
export type { ErrorResponseOptions, NonceSource, RenderHook, RenderRequest } from './response/response-options.js';
export { defaultTemplatesDir, escapeHtml } from './response/templates.js';
export { abortResponse, mergeVary, writeError } from './response/write-error.js';
