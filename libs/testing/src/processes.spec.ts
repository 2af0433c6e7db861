import { freePort, freePorts, startOnFreePorts } from './processes';

describe('freePorts', () => {
  it('never hands out the same port twice in one process', async () => {
    const ports = [...(await freePorts(3)), await freePort(), await freePort(), ...(await freePorts(5))];
    expect(new Set(ports).size).toBe(ports.length);
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
