import { UidOrderGate } from './uid-order-gate';

describe('UidOrderGate', () => {
  it('lets a higher UID append only after the lower ones in flight have left', async () => {
    const gate = new UidOrderGate();
    const appended: number[] = [];
    const low = gate.enter('a\nINBOX', 5);
    const high = gate.enter('a\nINBOX', 6);
    const highDone = high.waitForEarlier().then(() => appended.push(6));
    await Promise.resolve();
    expect(appended).toEqual([]);
    appended.push(5);
    low.leave();
    await highDone;
    high.leave();
    expect(appended).toEqual([5, 6]);
    expect(gate.size).toBe(0);
  });

  it('does not wait for other mailboxes, higher UIDs, or UIDs that entered later', async () => {
    const gate = new UidOrderGate();
    const first = gate.enter('a\nINBOX', 9);
    const otherMailbox = gate.enter('a\nSent', 1);
    const lowerButLater = gate.enter('a\nINBOX', 3);
    await expect(Promise.race([otherMailbox.waitForEarlier().then(() => 'ok'), new Promise((r) => setTimeout(() => r('blocked'), 20))])).resolves.toBe('ok');
    await expect(Promise.race([first.waitForEarlier().then(() => 'ok'), new Promise((r) => setTimeout(() => r('blocked'), 20))])).resolves.toBe('ok');
    // 3 entered after 9 and is lower: it must not wait for 9.
    await expect(Promise.race([lowerButLater.waitForEarlier().then(() => 'ok'), new Promise((r) => setTimeout(() => r('blocked'), 20))])).resolves.toBe('ok');
    [first, otherMailbox, lowerButLater].forEach((s) => s.leave());
    expect(gate.size).toBe(0);
  });

  it('releases waiters when a lower UID gives up, and tolerates leaving twice', async () => {
    const gate = new UidOrderGate();
    const failing = gate.enter('k', 1);
    const next = gate.enter('k', 2);
    failing.leave();
    failing.leave();
    await next.waitForEarlier();
    next.leave();
    expect(gate.size).toBe(0);
  });
});
