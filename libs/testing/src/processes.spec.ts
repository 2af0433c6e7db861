import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freeConsecutivePorts, freePort, freePorts, startOnFreePorts } from './processes';

describe('freePorts', () => {
  it('never hands out the same port twice in one process', async () => {
    const ports = [...(await freePorts(3)), await freePort(), await freePort(), ...(await freePorts(5))];
    expect(new Set(ports).size).toBe(ports.length);
  });
});

describe('freeConsecutivePorts', () => {
  it('hands out a run of free ports below the ephemeral range, each bindable, never twice', async () => {
    const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const bases = [await freeConsecutivePorts(3), await freeConsecutivePorts(3)];
    for (const base of bases) {
      expect(base + 2).toBeLessThan(ephemeralLow);
      for (const port of [base, base + 1, base + 2]) {
        const server = createServer();
        await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', () => resolve()));
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
    const all = bases.flatMap((base) => [base, base + 1, base + 2]);
    expect(new Set(all).size).toBe(6);
  });
});

describe('startOnFreePorts', () => {
  it('tries again when the server could not bind its port', async () => {
    let calls = 0;
    const started = await startOnFreePorts(3, async () => {
      if (++calls < 3) throw new Error('doveconf: Fatal: duplicate listener: 35727:127.0.0.1');
      return 'up';
    });
    expect([started, calls]).toEqual(['up', 3]);
  });

  it('gives up after the last attempt and on any other failure at once', async () => {
    let calls = 0;
    const bind = () => startOnFreePorts(2, async () => {
      calls++;
      throw new Error('bind: Address already in use');
    });
    await expect(bind()).rejects.toThrow('Address already in use');
    expect(calls).toBe(2);
    calls = 0;
    const other = () => startOnFreePorts(3, async () => {
      calls++;
      throw new Error('auth failed');
    });
    await expect(other()).rejects.toThrow('auth failed');
    expect(calls).toBe(1);
  });
});
