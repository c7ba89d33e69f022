/**
 * config/: what users configure is checked here, once, at construction. One error maker (configError: stable
 * GATEWAY_ERRORS_* codes, each explained in docs/configuration-errors.md), one warning maker for the mistakes that
 * only show later (gatewayWarning: once per reason, each explained in docs/warnings.md), and the checks every options
 * resolver shares (unknown keys with a "did you mean", numbers, ratios, status lists, flags).
 */
export { booleanOption, checkOptions, fraction, positiveNumber, statusList, wholeNumber } from './checks.js';
export { type ConfigError, type ConfigErrorCode, configError, docsLink } from './config-error.js';
export { gatewayWarning, type WarningCode, type WarningOnce } from './warning.js';
