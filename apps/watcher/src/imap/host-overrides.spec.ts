import { parseEnv } from '@pushmail/config';
import { z } from 'zod';
import { firstFolderCheckBase, folderCheckInterval, hostOverridesSchema, timingsByHost } from './host-overrides';

const schema = z.object({ IMAP_HOST_OVERRIDES: hostOverridesSchema });
const base = {
  POLL_INTERVAL_MS: 30_000,
  IDLE_RESTART_MS: 1_500_000,
  HALF_OPEN_TIMEOUT_MS: 300_000,
  NOOP_TIMEOUT_MS: 15_000,
  BACKOFF_MIN_MS: 1000,
  BACKOFF_MAX_MS: 300_000,
  AUTH_FAILURE_BACKOFF_MS: 3_600_000,
  DISABLE_IDLE: false,
  FOLDER_SWEEP_INTERVAL_MS: 30_000,
  FOLDER_LIST_INTERVAL_MS: 300_000,
  DISABLE_NOTIFY: false,
  RESYNC_SETTLE_MS: 60,
};

describe('IMAP_HOST_OVERRIDES', () => {
  it('applies a host’s settings over the defaults, case-insensitively, and leaves other hosts alone', () => {
    const { IMAP_HOST_OVERRIDES } = parseEnv(schema, { IMAP_HOST_OVERRIDES: '{"imap.163.com":{"DISABLE_IDLE":true,"POLL_INTERVAL_MS":55000}}' });
    const timings = timingsByHost(base, IMAP_HOST_OVERRIDES);
    expect(timings('IMAP.163.com')).toEqual({ ...base, DISABLE_IDLE: true, POLL_INTERVAL_MS: 55_000 });
    expect(timings('imap.example.com')).toBe(base);
  });

  it('takes RESYNC_SETTLE_MS per host, 0 (at once) to 1000', () => {
    const { IMAP_HOST_OVERRIDES } = parseEnv(schema, { IMAP_HOST_OVERRIDES: '{"imap.example.com":{"RESYNC_SETTLE_MS":0}}' });
    expect(timingsByHost(base, IMAP_HOST_OVERRIDES)('imap.example.com').RESYNC_SETTLE_MS).toBe(0);
    expect(() => parseEnv(schema, { IMAP_HOST_OVERRIDES: '{"h":{"RESYNC_SETTLE_MS":5000}}' })).toThrow(/IMAP_HOST_OVERRIDES/);
  });

  it('defaults to no overrides', () => {
    expect(parseEnv(schema, {}).IMAP_HOST_OVERRIDES).toEqual({});
  });

  it('names the variable for bad JSON or unknown settings', () => {
    expect(() => parseEnv(schema, { IMAP_HOST_OVERRIDES: '{nope' })).toThrow(/IMAP_HOST_OVERRIDES: must be a JSON object/);
    expect(() => parseEnv(schema, { IMAP_HOST_OVERRIDES: '{"h":{"IDLE_RESTART":1}}' })).toThrow(/IMAP_HOST_OVERRIDES/);
  });

  it('takes FOLDER_LIST_INTERVAL_MS per host', () => {
    const { IMAP_HOST_OVERRIDES } = parseEnv(schema, { IMAP_HOST_OVERRIDES: '{"imap.example.com":{"FOLDER_LIST_INTERVAL_MS":60000}}' });
    expect(timingsByHost(base, IMAP_HOST_OVERRIDES)('imap.example.com').FOLDER_LIST_INTERVAL_MS).toBe(60_000);
  });
});

describe('a session’s own folder checks', () => {
  it('sweeps every FOLDER_SWEEP_INTERVAL_MS without NOTIFY, and lists every FOLDER_LIST_INTERVAL_MS with it', () => {
    expect(folderCheckInterval(base, false)).toBe(30_000);
    expect(folderCheckInterval(base, true)).toBe(300_000);
  });

  it('starts each session at a random point of its interval, so sessions connected together check apart', () => {
    expect(firstFolderCheckBase(1_000_000, 300_000, () => 0)).toBe(1_000_000);
    expect(firstFolderCheckBase(1_000_000, 300_000, () => 0.5)).toBe(850_000);
    expect(firstFolderCheckBase(1_000_000, 300_000, () => 0.999999)).toBe(700_001);
    // 1,000 sessions connected in the same millisecond: their first checks spread over the whole interval.
    const due = Array.from({ length: 1000 }, () => firstFolderCheckBase(0, 300_000) + 300_000);
    const perMinute = [0, 1, 2, 3, 4].map((m) => due.filter((t) => t >= m * 60_000 && t < (m + 1) * 60_000).length);
    for (const n of perMinute) expect(n).toBeGreaterThan(120);
  });
});
