/**
 * Counts events over the last `span` milliseconds in a fixed ring of time buckets, for the retry budget and the
 * breaker's failure ratio. Memory is a few numbers per bucket whatever the traffic. Each bucket remembers which
 * slice of time it holds, so after a quiet spell old counts are never summed, even where the ring did not come
 * round to them yet (cockatiel's SamplingBreaker 3.2.1 rotates one bucket per event and keeps summing the rest).
 */
export class SlidingWindow<Key extends string> {
  readonly #width: number;
  /** The time slice (`floor(now / width)`) each bucket holds; -Infinity when empty. */
  readonly #slices: Float64Array;
  readonly #counts: ReadonlyMap<Key, Float64Array>;

  /**
   * @param keys what is counted, such as `['success', 'failure']`
   * @param span the window, in milliseconds
   * @param buckets the ring's size: the window moves by `span / buckets`
   */
  constructor(keys: readonly Key[], span: number, buckets = 10) {
    this.#width = span / buckets;
    this.#slices = new Float64Array(buckets).fill(Number.NEGATIVE_INFINITY);
    this.#counts = new Map(keys.map((key) => [key, new Float64Array(buckets)]));
  }

  /** Counts `amount` events of `key` at time `now` (milliseconds). */
  add(key: Key, now: number, amount = 1): void {
    const slice = Math.floor(now / this.#width);
    const bucket = this.#bucketOf(slice);
    if (this.#slices[bucket] !== slice) {
      this.#slices[bucket] = slice;
      for (const counts of this.#counts.values()) counts[bucket] = 0;
    }
    const counts = this.#counts.get(key);
    if (counts !== undefined) counts[bucket] = (counts[bucket] as number) + amount;
  }

  /** The events of `key` counted within the window that ends at `now`. */
  total(key: Key, now: number): number {
    const counts = this.#counts.get(key);
    if (counts === undefined) return 0;
    const current = Math.floor(now / this.#width);
    const oldest = current - this.#slices.length;
    let sum = 0;
    for (let bucket = 0; bucket < this.#slices.length; bucket++) {
      const slice = this.#slices[bucket] as number;
      if (slice > oldest && slice <= current) sum += counts[bucket] as number;
    }
    return sum;
  }

  /** Forgets everything. */
  clear(): void {
    this.#slices.fill(Number.NEGATIVE_INFINITY);
    for (const counts of this.#counts.values()) counts.fill(0);
  }

  #bucketOf(slice: number): number {
    const size = this.#slices.length;
    return ((slice % size) + size) % size;
  }
}
