/**
 * A Map that keeps at most `limit` entries: adding a key past the limit drops the oldest one (insertion
 * order; delete and set again to make an entry the newest). For results kept between requests, whose
 * inputs come from callers and must not grow memory without bound.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (this.size >= this.limit && !this.has(key)) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}

/**
 * `fn` with its answers kept by the JSON text of its argument (the `limit` most recent arguments).
 * Only for a pure `fn` of plain JSON data.
 */
export function memoByJson<A, R>(fn: (arg: A) => R, limit: number): (arg: A) => R {
  const answers = new BoundedMap<string, R>(limit);
  return (arg) => {
    const key = JSON.stringify(arg);
    if (answers.has(key)) return answers.get(key) as R;
    const answer = fn(arg);
    answers.set(key, answer);
    return answer;
  };
}
