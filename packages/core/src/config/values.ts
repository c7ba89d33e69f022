/**
 * Checks of single option values, shared by the resilience options. Each returns the value or throws a TypeError
 * that names the option and shows a valid value, at construction, never per request.
 */

/** A finite number > 0 (milliseconds, seconds...). */
export function positiveNumber(value: unknown, name: string, example: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`gateway-errors: ${name} must be a positive number, such as ${example}; got ${show(value)}.`);
  }
  return value;
}

/** A whole number within [min, max]. */
export function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`gateway-errors: ${name} must be a whole number from ${min} to ${max}; got ${show(value)}.`);
  }
  return value;
}

/** A share within [min, 1]: `min` is 0 when zero makes sense (a jitter), else just above it. */
export function fraction(value: unknown, name: string, allowZero: boolean): number {
  const low = allowZero ? 0 : Number.MIN_VALUE;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < low || value > 1) {
    const range = allowZero ? 'from 0 to 1' : 'above 0 and at most 1';
    throw new TypeError(`gateway-errors: ${name} must be a number ${range}, such as 0.2; got ${show(value)}.`);
  }
  return value;
}

/** A list of HTTP statuses within [min, max], frozen. */
export function statusList(value: unknown, name: string, min: number, max: number): readonly number[] {
  if (!Array.isArray(value) || !value.every((status) => Number.isInteger(status) && status >= min && status <= max)) {
    throw new TypeError(
      `gateway-errors: ${name} must be a list of statuses from ${min} to ${max}, such as [502, 503]; got ${show(value)}.`,
    );
  }
  return Object.freeze([...new Set(value as number[])]);
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(show).join(', ')}]`;
  return String(value);
}
