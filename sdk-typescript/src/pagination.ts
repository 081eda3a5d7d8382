// Cursor pagination: every list answers `{items, next_cursor}`; pass
// `next_cursor` back as `cursor` until it is `null` (docs/api.md).

/** One page of a list. */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/**
 * Every item of a list, page by page: `fetchPage` is called with
 * `undefined`, then with each `next_cursor`, until there is none.
 *
 * ```ts
 * for await (const agent of paginate((cursor) => unwrap(gw.api.GET("/v1/agents", { params: { query: { cursor } } })))) { … }
 * ```
 */
export async function* paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  const seen = new Set<string>();
  for (;;) {
    const page = await fetchPage(cursor);
    yield* page.items;
    const next = page.next_cursor;
    if (next === null || next === undefined || next === "") return;
    // A list that hands back a cursor it already gave would loop forever.
    if (seen.has(next)) throw new Error(`the list repeated cursor \`${next}\``);
    seen.add(next);
    cursor = next;
  }
}

/** Collects an async iterable into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
