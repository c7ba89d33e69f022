/**
 * @gateway-errors/core: the framework-free core of gateway-errors. This entry is what a user or an adapter author
 * needs; building blocks with no compatibility promise are in `@gateway-errors/core/unstable-internals`.
 *
 * The house, one folder per concern, each opening with what it holds (docs/architecture.md says more):
 *
 *   config/       option checks, and configuration errors with stable GATEWAY_ERRORS_* codes
 *   failure/      what went wrong: the taxonomy table, classify(), the error classes, Retry-After, Proxy-Status
 *   response/     how a failure is answered: negotiation, messages, templates, render, the responder
 *   resilience/   what protects an upstream: backoff, retry budget, breaker, targets, health, balancer, limiter,
 *                 robots.txt, stale copies (stale-if-error), maintenance
 *   proxy/        forwarding: createProxy(), attempts, the node:http engine, headers, bodies, options, events, logTo()
 *   node-http/    the layer over Node's request and response: request id, original URL, refusals, WebSocket
 *                 handshakes, and what the adapters build their middleware from
 *   store/        state that gateway instances share: the store contract, and the in-memory default
 *
 * @packageDocumentation
 */

// Configuration errors and process warnings: their codes, and their makers for an adapter's own options and mistakes.
export {
  type ConfigError,
  type ConfigErrorCode,
  configError,
  gatewayWarning,
  type WarningCode,
  type WarningOnce,
} from './config/index.js';
// What went wrong: classification, the failure, the error classes users throw and catch.
export {
  BadGatewayError,
  classify,
  clientWentAway,
  type FailurePhase,
  type FailureType,
  GatewayError,
  type GatewayErrorCode,
  type GatewayErrorOptions,
  type GatewayFailure,
  GatewayTimeoutError,
  isGatewayError,
  type ResolvedRetryAfterPolicy,
  type RetryAfterPolicy,
  ServiceUnavailableError,
  type Timings,
} from './failure/index.js';
// The adapters' layer over Node: what an adapter builds its middleware from.
export {
  answerFailure,
  keepOriginalUrl,
  type MaintenanceMiddlewareParts,
  markResponder,
  named,
  type ProxyMiddlewareParts,
  responderOf,
  type UpgradeListener,
  withGate,
  withProxy,
} from './node-http/index.js';
// Forwarding: the proxy, its options and events, and logging them.
export {
  type ClientStall,
  ConsumedBodyError,
  createProxy,
  type DrainOptions,
  type DrainResult,
  type FailureRenderer,
  type GatewayProxy,
  type LogLevel,
  type LogLevels,
  type LogMethod,
  type LogToOptions,
  logTo,
  type ProxyAbortEvent,
  type ProxyBreakerEvent,
  type ProxyEvent,
  type ProxyEvents,
  type ProxyFailureEvent,
  type ProxyHealthEvent,
  type ProxyOptions,
  type ProxyRejectEvent,
  type ProxyResponseEvent,
  type ProxyRetryEvent,
  ProxyTimeoutError,
  type RejectReason,
  type RetryOptions,
  type StructuredLogger,
  type TimeoutName,
  type TimeoutOptions,
  type TunnelsGone,
  type UpstreamTlsOptions,
} from './proxy/index.js';
// The proxy's resilience options, and the maintenance gate.
export {
  type BackoffOptions,
  type BreakerOptions,
  type BreakerReason,
  type BreakerState,
  type Clock,
  type ConcurrencyOptions,
  createMaintenance,
  type HealthCheckOptions,
  type MaintenanceAllowList,
  type MaintenanceChange,
  type MaintenanceGate,
  type MaintenanceGateEvents,
  type MaintenanceOptions,
  type PassiveHealthOptions,
  type RetryBudgetOptions,
  type RobotsOptions,
  type StaleIfErrorOptions,
} from './resilience/index.js';
// Answering: the error responder, its options, and what templates and render hooks see.
export {
  builtInMessages,
  createErrorResponder,
  createPreview,
  type ErrorResponder,
  type ErrorResponseOptions,
  englishMessages,
  type MessageOverrides,
  type Messages,
  type NonceSource,
  type PageContext,
  type PageCopy,
  type PageTemplate,
  type PreviewHandler,
  type PreviewOptions,
  type RenderedError,
  type RenderHook,
  type RenderRequest,
  type RenderSettings,
  type ResponseFormat,
  type SiteLocals,
  type TemplateSet,
} from './response/index.js';
// Shared state: the store contract (for a store of your own), and the in-memory default.
export { type GatewayStore, type GatewayStoreEvents, type MemoryStoreOptions, memoryStore } from './store/index.js';
