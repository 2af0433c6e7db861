import { HealthService } from './health.service';

describe('HealthService.readiness', () => {
  it('is ready when every check is', async () => {
    const health = new HealthService();
    health.register('redis', () => ({ ok: true }));
    await expect(health.readiness()).resolves.toEqual({ ok: true, checks: { redis: { ok: true } } });
  });

  it('fails when a check fails, naming it', async () => {
    const health = new HealthService();
    health.register('redis', () => Promise.reject(new Error('connection refused')));
    await expect(health.readiness()).resolves.toEqual({ ok: false, checks: { redis: { ok: false, detail: 'connection refused' } } });
  });

  it('fails once shutting down, also for a probe whose checks were still running when the signal came', async () => {
    const health = new HealthService();
    let answer!: () => void;
    health.register('redis', () => new Promise((resolve) => (answer = () => resolve({ ok: true }))));
    const pending = health.readiness();
    health.markShuttingDown();
    answer();
    const result = await pending;
    expect(result.ok).toBe(false);
    expect(result.checks.shutdown).toEqual({ ok: false, detail: 'shutting down' });
  });
});
