/**
 * Starts `start(i)` for items ahead of the consumer, at most `width` at once,
 * and yields the results in item order: work overlaps, output stays ordered,
 * memory stays bounded by the window. A rejection surfaces when the consumer
 * reaches that item; later results are then dropped.
 */
export async function* orderedWindow<T>(
  count: number,
  width: number,
  start: (index: number) => Promise<T>,
): AsyncGenerator<T> {
  const pending: Promise<T>[] = [];
  let next = 0;
  const fill = () => {
    while (next < count && pending.length < width) {
      const p = start(next++);
      // Avoid unhandled-rejection noise for items the consumer never reaches.
      p.catch(() => {});
      pending.push(p);
    }
  };
  fill();
  while (pending.length > 0) {
    const head = pending.shift() as Promise<T>;
    const value = await head;
    fill();
    yield value;
  }
}
