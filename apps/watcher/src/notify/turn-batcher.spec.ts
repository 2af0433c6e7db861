import { TurnBatcher } from './turn-batcher';

describe('TurnBatcher', () => {
  it('flushes what was added in one turn as one batch; each caller gets the results of its own items', async () => {
    const flushed: number[][] = [];
    const batcher = new TurnBatcher<number, string>(async (items) => {
      flushed.push(items);
      return items.map((i) => `r${i}`);
    });
    const [a, b] = await Promise.all([batcher.add([1, 2]), batcher.add([3])]);
    expect([a, b]).toEqual([['r1', 'r2'], ['r3']]);
    expect(await batcher.add([4])).toEqual(['r4']);
    expect(flushed).toEqual([[1, 2, 3], [4]]);
  });

  it('does not settle a caller before its batch is flushed', async () => {
    let release!: () => void;
    const batcher = new TurnBatcher<number, number>((items) => new Promise<number[]>((r) => (release = () => r(items))));
    let done = false;
    const added = batcher.add([1]).then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    release();
    await added;
    expect(done).toBe(true);
  });

  it('rejects every caller of a failed batch with its error; the next batch starts afresh', async () => {
    let fail = true;
    const batcher = new TurnBatcher<number, number>(async (items) => {
      if (fail) throw new Error('redis down');
      return items;
    });
    const results = await Promise.allSettled([batcher.add([1]), batcher.add([2])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toEqual(new Error('redis down'));
    fail = false;
    await expect(batcher.add([3])).resolves.toEqual([3]);
  });
});
