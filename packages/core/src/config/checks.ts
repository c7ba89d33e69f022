/**
 * The checks every options resolver shares: an options object's keys, and single values. Each returns the value or
 * throws a configuration error that names the option and shows a valid value, at construction, never per request.
 */
import { configError } from './config-error.js';

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** The name of `known` closest to `name` by edit distance, when it is at most `within` edits away. */
export function closestName(name: string, known: readonly string[], within: number): string | undefined {
  const closest = [...known].sort((a, b) => distance(name, a) - distance(name, b))[0];
  return closest !== undefined && distance(name, closest) <= within ? closest : undefined;
}

/**
 * Throws on anything but a plain options object, and on unknown keys, naming the closest known one: a typo such as
 * `timeout` for `timeouts` must fail at start-up, not silently fall back to a default. `hintFor` may say where an
 * unknown key belongs instead (a page value given beside the options rather than in `locals`).
 */
export function checkOptions(
  options: unknown,
  known: readonly string[],
  where: string,
  hintFor?: (key: string, value: unknown) => string | undefined,
): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${where} takes an options object, got ${options === null ? 'null' : typeof options}.`,
    );
  }
  for (const [key, value] of Object.entries(options)) {
    if (known.includes(key)) continue;
    const closest = closestName(key, known, 3);
    const hint = hintFor?.(key, value) ?? (closest === undefined ? '' : ` Did you mean "${closest}"?`);
    throw configError(
      'GATEWAY_ERRORS_UNKNOWN_OPTION',
      `${where} has no option "${key}".${hint} Known options: ${known.join(', ')}.`,
    );
  }
}

/** `true` or `false`; `fallback` when not given. */
export function booleanOption(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw configError('GATEWAY_ERRORS_INVALID_OPTION', `${name} must be true or false.`);
  return value;
}

/** A finite number > 0 (milliseconds, seconds...). */
export function positiveNumber(value: unknown, name: string, example: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${name} must be a positive number, such as ${example}; got ${show(value)}.`,
    );
  }
  return value;
}

/** A whole number within [min, max]. */
export function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${name} must be a whole number from ${min} to ${max}; got ${show(value)}.`,
    );
  }
  return value;
}

/** A share within [min, 1]: `min` is 0 when zero makes sense (a jitter), else just above it. */
export function fraction(value: unknown, name: string, allowZero: boolean): number {
  const low = allowZero ? 0 : Number.MIN_VALUE;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > 1) {
    const range = allowZero ? 'from 0 to 1' : 'above 0 and at most 1';
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${name} must be a number ${range}, such as 0.2; got ${show(value)}.`,
    );
  }
  return value;
}

/** A list of HTTP statuses within [min, max], frozen. */
export function statusList(value: unknown, name: string, min: number, max: number): readonly number[] {
  if (!Array.isArray(value) || !value.every((status) => Number.isInteger(status) && status >= min && status <= max)) {
    throw configError(
      'GATEWAY_ERRORS_INVALID_OPTION',
      `${name} must be a list of statuses from ${min} to ${max}, such as [502, 503]; got ${show(value)}.`,
    );
  }
  return Object.freeze([...new Set(value as number[])]);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return String(value);
}
