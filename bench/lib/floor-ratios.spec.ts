import { EMAILENGINE_LONE_MESSAGE_MS, notifyJudgement, overFloor } from './floor-ratios';

describe('overFloor', () => {
  it('divides by the floor, to two decimals', () => {
    expect(overFloor(30, 20)).toBe(1.5);
    expect(overFloor(10, 3)).toBe(3.33);
  });
  it('is null when a side is missing or the floor is not positive', () => {
    expect(overFloor(null, 20)).toBeNull();
    expect(overFloor(30, undefined)).toBeNull();
    expect(overFloor(30, 0)).toBeNull();
    expect(overFloor(30, -2)).toBeNull();
  });
});

describe('notifyJudgement', () => {
  const fast = Array.from({ length: 100 }, (_, i) => 10 + (i % 10));
  it('meets the targets when every message arrived fast, with the IDLE path and EmailEngine as ratios', () => {
    const j = notifyJudgement({ quick: false }, { floor: fast.map((v) => v - 30), ingress: fast, sent: 100, idle: { p50: 580, p99: 700 }, idleFloor: fast.map((v) => v + 500) });
    expect(j.targets.map((t) => t.met)).toEqual([true, true, true]);
    expect(j.figures.missing).toBe(0);
    expect(j.figures.idleFloorP50OverIngressP50).toBe(overFloor(514.5, 14.5));
    expect(j.figures.idleP50OverIngressP50).toBe(overFloor(580, 14.5));
    expect(j.figures.emailEngineOverIngressP50).toBe(overFloor(EMAILENGINE_LONE_MESSAGE_MS, 14.5));
    for (const row of j.tables[0].rows) expect(row).toHaveLength(j.tables[0].columns.length);
    expect(j.tables[0].rows[0][3]).toBeNull(); // a negative floor has no ratio
  });
  it('fails a slow tail and a lost message', () => {
    const slowTail = [...fast.slice(0, 95), 200, 200, 200, 200, 200];
    const j = notifyJudgement({ quick: false }, { floor: [], ingress: slowTail, sent: 101, idle: null });
    expect(j.targets.map((t) => t.met)).toEqual([true, false, false]);
    expect(j.figures.missing).toBe(1);
    expect(j.figures.idleP50OverIngressP50).toBeNull();
    expect(j.figures.idleFloorP50OverIngressP50).toBeNull();
  });
  it('leaves the latency targets unjudged in a quick run, but not a lost message', () => {
    const j = notifyJudgement({ quick: true }, { floor: [], ingress: [], sent: 3, idle: null });
    expect(j.targets.map((t) => t.met)).toEqual([null, null, false]);
  });
});
