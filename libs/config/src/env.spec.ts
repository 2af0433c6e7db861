import { z } from 'zod';
import { ConfigError, baseEnvSchema, env, mailNetworkEnvShape, parseEnv, secretKeySchema } from './env';

describe('parseEnv', () => {
  it('names a missing REDIS_URL', () => {
    expect(() => parseEnv(baseEnvSchema, {})).toThrow(ConfigError);
    try {
      parseEnv(baseEnvSchema, {});
    } catch (e) {
      expect((e as ConfigError).variables).toEqual(['REDIS_URL']);
      expect((e as Error).message).toContain('REDIS_URL');
    }
  });

  it('rejects a non-redis URL and names it', () => {
    expect(() => parseEnv(baseEnvSchema, { REDIS_URL: 'http://x' })).toThrow(/REDIS_URL: must start with redis/);
  });

  it('treats empty strings as unset so defaults apply', () => {
    const parsed = parseEnv(baseEnvSchema, { REDIS_URL: 'redis://127.0.0.1:6379', LOG_LEVEL: '' });
    expect(parsed.LOG_LEVEL).toBe('info');
  });

  it('coerces ints, bools and lists', () => {
    const schema = z.object({ A: env.int(5, 1, 10), B: env.bool(false), C: env.list(['x']) });
    expect(parseEnv(schema, { A: '7', B: 'true', C: 'a, b' })).toEqual({ A: 7, B: true, C: ['a', 'b'] });
    expect(parseEnv(schema, {})).toEqual({ A: 5, B: false, C: ['x'] });
    expect(() => parseEnv(schema, { A: '11' })).toThrow(/A:/);
  });

  it('requires a 32-byte base64 secret key', () => {
    const schema = z.object({ K: secretKeySchema });
    expect(() => parseEnv(schema, { K: Buffer.alloc(16).toString('base64') })).toThrow(/K: must be 32 bytes/);
    expect(parseEnv(schema, { K: Buffer.alloc(32, 1).toString('base64') }).K).toBeDefined();
  });
});

describe('mail network settings (shared by every app that connects)', () => {
  const schema = baseEnvSchema.extend(mailNetworkEnvShape);
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('defaults to public hosts only and STARTTLS required', () => {
    expect(parseEnv(schema, base)).toMatchObject({ ALLOW_PRIVATE_MAIL_HOSTS: false, MAIL_HOST_ALLOWLIST: [], ALLOW_INSECURE_MAIL: false });
  });

  it('reads the allowances and an allow-list of names, wildcards, addresses and CIDRs', () => {
    const parsed = parseEnv(schema, { ...base, ALLOW_PRIVATE_MAIL_HOSTS: 'true', ALLOW_INSECURE_MAIL: '1', MAIL_HOST_ALLOWLIST: 'mail.corp, *.corp.example,10.0.0.0/8,fd00::/8,[::1],192.0.2.7' });
    expect(parsed).toMatchObject({ ALLOW_PRIVATE_MAIL_HOSTS: true, ALLOW_INSECURE_MAIL: true });
    expect(parsed.MAIL_HOST_ALLOWLIST).toEqual(['mail.corp', '*.corp.example', '10.0.0.0/8', 'fd00::/8', '[::1]', '192.0.2.7']);
  });

  it.each(['10.0.0.0/33', 'http://mail.corp', 'mail corp', '-bad-.corp', '10.0.0.0/8/1', 'fd00::/129'])('names MAIL_HOST_ALLOWLIST for %s', (entry) => {
    expect(() => parseEnv(schema, { ...base, MAIL_HOST_ALLOWLIST: entry })).toThrow(/MAIL_HOST_ALLOWLIST: /);
  });
});
