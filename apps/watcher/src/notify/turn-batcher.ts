/**
 * Collects what callers hand in during one turn of the event loop and flushes it as one batch
 * (at `setImmediate`, after the turn's I/O callbacks): under load, the requests whose bodies
 * arrived together share Redis writes instead of making their own; a lone request waits for
 * nothing but the end of its own turn. `flush` answers one result per item, in order, and each
 * caller gets the results of its own items once the whole batch is through; if the flush fails,
 * every caller of that batch is rejected with its error (nothing is dropped silently).
 */
export class TurnBatcher<T, R> {
  private pending: Array<{ items: readonly T[]; resolve: (results: R[]) => void; reject: (err: unknown) => void }> = [];

  constructor(private readonly flush: (items: T[]) => Promise<R[]>) {}

  add(items: readonly T[]): Promise<R[]> {
    return new Promise<R[]>((resolve, reject) => {
      if (!this.pending.length) setImmediate(() => void this.run());
      this.pending.push({ items, resolve, reject });
    });
  }

  private async run(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const results = await this.flush(batch.flatMap((b) => b.items));
      let at = 0;
      for (const b of batch) {
        b.resolve(results.slice(at, at + b.items.length));
        at += b.items.length;
      }
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
