export { classify, clientWentAway } from './classify.js';
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
export { builtInMessages, englishMessages, type MessageOverrides, type Messages, type PageCopy } from './messages.js';
export { localeNegotiator, negotiateFormat, type ResponseFormat } from './negotiate.js';
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
export { type PageContext, type RenderedError, relativeTime, type SiteLocals } from './render.js';
export { requestIdOf } from './request-id.js';
export { abortResponse, mergeVary, writeError } from './respond.js';
export {
  createErrorResponder,
  defaultErrorResponder,
  type ErrorResponder,
  type ErrorResponseOptions,
  type RenderHook,
  type RenderRequest,
} from './responder.js';
export {
  clampRetryAfter,
  defaultRetryAfterPolicy,
  parseRetryAfter,
  type RetryAfterPolicy,
} from './retry-after.js';
export { type FailurePhase, type FailureRule, type FailureType, failureRules, isFailureType } from './taxonomy.js';
export { defaultTemplatesDir } from './templates.js';
