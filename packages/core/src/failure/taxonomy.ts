/**
 * The failure taxonomy: one table from each failure type to its status and what it means for a retry. This is the
 * only place a status is decided; everything else reads it through {@link failureOf}.
 *
 * The types are the Proxy-Status error types of RFC 9209 §2.3 (the IANA "HTTP Proxy-Status Parameters" registry),
 * and the statuses are the ones that section recommends. Gateways disagree (nginx answers 502 for a connect
 * timeout, Envoy 503 for a refused connection); we follow the RFC.
 */

/** An RFC 9209 §2.3 Proxy-Status error type that a gateway in front of an HTTP upstream can meet. */
export type FailureType =
  | 'dns_error'
  | 'dns_timeout'
  | 'destination_unavailable'
  | 'destination_ip_unroutable'
  | 'connection_refused'
  | 'connection_terminated'
  | 'connection_timeout'
  | 'connection_read_timeout'
  | 'connection_write_timeout'
  | 'connection_limit_reached'
  | 'tls_protocol_error'
  | 'tls_certificate_error'
  | 'tls_alert_received'
  | 'http_response_incomplete'
  | 'http_response_header_section_size'
  | 'http_response_body_size'
  | 'http_response_transfer_coding'
  | 'http_response_content_coding'
  | 'http_response_timeout'
  | 'http_upgrade_failed'
  | 'http_protocol_error'
  | 'proxy_internal_response';

/**
 * Where in the exchange a failure happened. `gateway` means the gateway answered on its own (circuit open,
 * concurrency limit, maintenance) without trying the upstream.
 */
export type FailurePhase = 'dns' | 'connect' | 'tls' | 'request' | 'response-head' | 'response-body' | 'gateway';

/** What the table says about one failure type. */
export interface FailureRule {
  /** The status a generated error response carries (RFC 9209 §2.3's recommendation). */
  readonly status: 502 | 503 | 504;
  /** Where the failure happens unless the classifier knows better. */
  readonly phase: FailurePhase;
  /**
   * Whether the request can have reached the upstream. When it cannot, any method may be retried
   * (RFC 9110 §9.2.2 only restricts retrying requests the server may have acted on).
   */
  readonly mayHaveReachedUpstream: boolean;
}

const rule = (status: FailureRule['status'], phase: FailurePhase, mayHaveReachedUpstream: boolean): FailureRule =>
  Object.freeze({ status, phase, mayHaveReachedUpstream });

/**
 * The taxonomy. Adding a failure type means adding a row here, and nowhere else. Each status is the one RFC 9209
 * §2.3 recommends for the type (section numbers below), except where noted.
 */
export const failureRules: Readonly<Record<FailureType, FailureRule>> = Object.freeze({
  // The name never resolved or the resolver gave up: nothing was sent.
  dns_error: rule(502, 'dns', false), // §2.3.2
  dns_timeout: rule(504, 'dns', false), // §2.3.1
  // No connection was made: nothing was sent, so any method may be retried.
  destination_ip_unroutable: rule(502, 'connect', false), // §2.3.6
  connection_refused: rule(502, 'connect', false), // §2.3.7
  connection_timeout: rule(504, 'connect', false), // §2.3.9
  // The handshake failed: no request byte was sent in clear or encrypted.
  tls_protocol_error: rule(502, 'tls', false), // §2.3.13
  tls_certificate_error: rule(502, 'tls', false), // §2.3.14
  tls_alert_received: rule(502, 'tls', false), // §2.3.15
  // The request was (or may have been) sent: only an idempotent, replayable request may be retried.
  connection_terminated: rule(502, 'response-head', true), // §2.3.8
  connection_write_timeout: rule(504, 'request', true), // §2.3.11
  http_response_incomplete: rule(502, 'response-head', true), // §2.3.18
  http_response_header_section_size: rule(502, 'response-head', true), // §2.3.19
  http_response_body_size: rule(502, 'response-body', true), // §2.3.21
  http_response_transfer_coding: rule(502, 'response-body', true), // §2.3.24
  http_response_content_coding: rule(502, 'response-body', true), // §2.3.25
  http_protocol_error: rule(502, 'response-head', true), // §2.3.28
  http_response_timeout: rule(504, 'response-head', true), // §2.3.26
  connection_read_timeout: rule(504, 'response-body', true), // §2.3.10
  http_upgrade_failed: rule(502, 'response-head', true), // §2.3.27
  // The gateway answered without trying the upstream.
  destination_unavailable: rule(503, 'gateway', false), // §2.3.4
  connection_limit_reached: rule(503, 'gateway', false), // §2.3.12
  // §2.3.29 recommends no status for a locally generated response; ours is planned maintenance (a maintenance gate,
  // or a proxy that drains for a deploy), which RFC 9110 §15.6.4 names as a reason for 503.
  proxy_internal_response: rule(503, 'gateway', false),
});

/** Whether `value` names a row of the taxonomy. */
export function isFailureType(value: unknown): value is FailureType {
  return typeof value === 'string' && Object.hasOwn(failureRules, value);
}
