import { hrwWinner, isAssignedTo } from './hrw';

const accounts = Array.from({ length: 3000 }, (_, i) => `acc_${i}`);
const assign = (members: string[]) => new Map(accounts.map((a) => [a, hrwWinner(a, members)]));

describe('hrwWinner', () => {
  it('is deterministic and independent of member order', () => {
    expect(hrwWinner('acc_1', ['a', 'b', 'c'])).toBe(hrwWinner('acc_1', ['c', 'a', 'b']));
    expect(hrwWinner('acc_1', [])).toBeUndefined();
  });

  it('spreads accounts evenly', () => {
    const members = ['w1', 'w2', 'w3'];
    const counts = new Map<string, number>();
    for (const owner of assign(members).values()) counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    for (const m of members) expect(counts.get(m)).toBeGreaterThan(accounts.length / 3 * 0.85);
  });

  it('moves only the joining member’s share when one joins', () => {
    const before = assign(['w1', 'w2', 'w3']);
    const after = assign(['w1', 'w2', 'w3', 'w4']);
    let moved = 0;
    for (const a of accounts) {
      if (before.get(a) !== after.get(a)) {
        moved++;
        expect(after.get(a)).toBe('w4'); // nothing moves between the old members
      }
    }
    expect(moved / accounts.length).toBeGreaterThan(0.2);
    expect(moved / accounts.length).toBeLessThan(0.3);
  });

  it('moves only the leaving member’s accounts when one leaves', () => {
    const before = assign(['w1', 'w2', 'w3']);
    const after = assign(['w1', 'w3']);
    for (const a of accounts) {
      if (before.get(a) !== 'w2') expect(after.get(a)).toBe(before.get(a));
      else expect(['w1', 'w3']).toContain(after.get(a));
    }
  });
});

describe('isAssignedTo', () => {
  const members = ['w1', 'w2', 'w3'];
  it('gives each account to exactly one member when nobody is full', () => {
    for (const a of accounts.slice(0, 500)) expect(members.filter((m) => isAssignedTo(a, m, members, new Set()))).toHaveLength(1);
  });
  it('sends a full member’s new accounts to exactly one non-full member, and nothing new to the full one', () => {
    const full = new Set(['w2']);
    for (const a of accounts.slice(0, 500)) {
      const takers = members.filter((m) => m !== 'w2' && isAssignedTo(a, m, members, full));
      if (hrwWinner(a, members) === 'w2') expect(takers).toHaveLength(1);
      else expect(takers).toEqual([hrwWinner(a, members)]);
    }
  });
  it('assigns nothing when the member list is empty', () => {
    expect(isAssignedTo('acc_1', 'w1', [], new Set())).toBe(false);
  });
});
