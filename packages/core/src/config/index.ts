/**
 * config/: what users configure is checked here, once, at construction. One error maker (configError: stable
 * GATEWAY_ERRORS_* codes, each explained in docs/configuration-errors.md) and the checks every options resolver
 * shares (unknown keys with a "did you mean", numbers, ratios, status lists, flags).
 */
export { booleanOption, checkOptions, fraction, positiveNumber, statusList, wholeNumber } from './checks.js';
export { type ConfigError, type ConfigErrorCode, configError } from './config-error.js';
