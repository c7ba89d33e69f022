/** Shared checks for every options object: run once, at construction. */

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

/**
 * Throws on anything but a plain options object, and on unknown keys, naming the closest known one: a typo such as
 * `timeout` for `timeouts` must fail at start-up, not silently fall back to a default.
 */
export function checkOptions(options: unknown, known: readonly string[], where: string): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(
      `gateway-errors: ${where} takes an options object, got ${options === null ? 'null' : typeof options}.`,
    );
  }
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const closest = [...known].sort((a, b) => distance(key, a) - distance(key, b))[0];
    const hint = closest !== undefined && distance(key, closest) <= 3 ? ` Did you mean "${closest}"?` : '';
    throw new TypeError(`gateway-errors: ${where} has no option "${key}".${hint} Known options: ${known.join(', ')}.`);
  }
}
