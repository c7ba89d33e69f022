/**
 * failure/: what went wrong, and what it means. The taxonomy (taxonomy.ts) is the one table from a failure type to
 * its status (RFC 9209 §2.3) and whether a retry is safe; GatewayFailure (failure.ts) is how every other part sees a
 * failure; classify() names the failure of whatever was thrown; the error classes carry a failure in the http-errors
 * shape; retry-after.ts decides every Retry-After, and proxy-status.ts writes the Proxy-Status header.
 */
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
  type RetryCandidate,
  receivedFailure,
  type Timings,
} from './failure.js';
export { appendProxyStatus, formatProxyStatus, type ProxyStatusEntry } from './proxy-status.js';
export {
  clampRetryAfter,
  defaultRetryAfterPolicy,
  parseHttpDate,
  parseRetryAfter,
  type ResolvedRetryAfterPolicy,
  type RetryAfterPolicy,
  resolveRetryAfterPolicy,
  retryAfterFor,
} from './retry-after.js';
export { type FailurePhase, type FailureRule, type FailureType, failureRules, isFailureType } from './taxonomy.js';
