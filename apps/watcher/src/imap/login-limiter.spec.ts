import { LoginLimiter } from './login-limiter';

const tick = () => new Promise((r) => setImmediate(r));

describe('LoginLimiter', () => {
  it('caps concurrent logins per host and overall', async () => {
    const limiter = new LoginLimiter(3, 2);
    const active = new Map<string, number>();
    let maxTotal = 0;
    const maxPerHost = new Map<string, number>();
    const gates: Array<() => void> = [];
    const login = (host: string) =>
      limiter.run(host, async () => {
        active.set(host, (active.get(host) ?? 0) + 1);
        const total = [...active.values()].reduce((a, b) => a + b, 0);
        maxTotal = Math.max(maxTotal, total);
        maxPerHost.set(host, Math.max(maxPerHost.get(host) ?? 0, active.get(host)!));
        await new Promise<void>((r) => gates.push(r));
        active.set(host, active.get(host)! - 1);
      });
    const all = [...Array(5)].map(() => login('a')).concat([...Array(5)].map(() => login('b')));
    for (let i = 0; i < 50; i++) {
      await tick();
      gates.splice(0).forEach((g) => g());
    }
    await Promise.all(all);
    expect(maxTotal).toBe(3);
    expect(maxPerHost.get('a')).toBe(2);
    expect(maxPerHost.get('b')).toBe(2);
  });

  it('releases its slot when a login fails', async () => {
    const limiter = new LoginLimiter(1, 1);
    await expect(limiter.run('h', async () => Promise.reject(new Error('x')))).rejects.toThrow('x');
    await expect(limiter.run('h', async () => 1)).resolves.toBe(1);
  });
});
