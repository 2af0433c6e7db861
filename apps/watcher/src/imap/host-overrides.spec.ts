import { parseEnv } from '@pushmail/config';
import { z } from 'zod';
import { hostOverridesSchema, timingsByHost } from './host-overrides';

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
});
