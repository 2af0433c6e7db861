import { z } from 'zod';
import { ConfigError, baseEnvSchema, describeRedisTarget, env, imapLoginEnvShape, mailNetworkEnvShape, parseEnv, redisTarget, secretKeySchema } from './env';

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

describe('IMAP login settings (shared by every app that logs in)', () => {
  const schema = baseEnvSchema.extend(imapLoginEnvShape);
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };

  it('reads IMAP_PER_USER_NAMESPACE_HOSTS: none by default, host names, addresses or *', () => {
    expect(parseEnv(schema, base).IMAP_PER_USER_NAMESPACE_HOSTS).toEqual([]);
    expect(parseEnv(schema, { ...base, IMAP_PER_USER_NAMESPACE_HOSTS: 'mail.corp, 10.0.0.7,[fd00::1]' }).IMAP_PER_USER_NAMESPACE_HOSTS).toEqual(['mail.corp', '10.0.0.7', '[fd00::1]']);
    expect(parseEnv(schema, { ...base, IMAP_PER_USER_NAMESPACE_HOSTS: '*' }).IMAP_PER_USER_NAMESPACE_HOSTS).toEqual(['*']);
  });

  it.each(['imap://mail.corp', 'mail corp', 'mail.corp/24'])('names IMAP_PER_USER_NAMESPACE_HOSTS for %s', (entry) => {
    expect(() => parseEnv(schema, { ...base, IMAP_PER_USER_NAMESPACE_HOSTS: entry })).toThrow(/IMAP_PER_USER_NAMESPACE_HOSTS: /);
  });
});

describe('where Redis is: exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES', () => {
  const variablesOf = (source: Record<string, string>) => {
    try {
      parseEnv(baseEnvSchema, source);
    } catch (e) {
      return { variables: (e as ConfigError).variables, message: (e as Error).message };
    }
    throw new Error('parsed');
  };

  it('reads a Sentinel set: addresses, master name, passwords, TLS', () => {
    const parsed = parseEnv(baseEnvSchema, { REDIS_SENTINELS: 'sentinel-0:26379, [fd00::1]:26380,10.0.0.3:26379', REDIS_SENTINEL_NAME: 'pushmail', REDIS_SENTINEL_PASSWORD: 's3', REDIS_PASSWORD: 'p4', REDIS_TLS: 'true' });
    expect(redisTarget(parsed)).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 'sentinel-0', port: 26379 }, { host: 'fd00::1', port: 26380 }, { host: '10.0.0.3', port: 26379 }],
      name: 'pushmail',
      sentinelPassword: 's3',
      password: 'p4',
      tls: true,
    });
    expect(describeRedisTarget(redisTarget(parsed))).toBe('Sentinel master "pushmail" via sentinel-0:26379,fd00::1:26380,10.0.0.3:26379');
  });

  it('describes a URL without its password', () => {
    expect(describeRedisTarget(redisTarget(parseEnv(baseEnvSchema, { REDIS_URL: 'redis://:secret@redis.example:6379/2' })))).toBe('redis://redis.example:6379/2');
  });

  it('names all three when none is set, and each one set when several are', () => {
    expect(variablesOf({})).toEqual({ variables: ['REDIS_URL'], message: expect.stringMatching(/REDIS_URL.*REDIS_SENTINELS.*REDIS_CLUSTER_NODES/) });
    expect(variablesOf({ REDIS_URL: 'redis://a:6379', REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm' }).variables).toEqual(['REDIS_URL', 'REDIS_SENTINELS']);
  });

  it('requires the master name with sentinels, and refuses sentinel settings without them', () => {
    expect(variablesOf({ REDIS_SENTINELS: 'a:26379' }).variables).toEqual(['REDIS_SENTINEL_NAME']);
    expect(variablesOf({ REDIS_URL: 'redis://a:6379', REDIS_SENTINEL_NAME: 'm' }).variables).toEqual(['REDIS_SENTINEL_NAME']);
    expect(variablesOf({ REDIS_URL: 'redis://a:6379', REDIS_PASSWORD: 'x' }).variables).toEqual(['REDIS_PASSWORD']);
  });

  it.each(['a', 'a:0', 'a:70000', 'http://a:1', ','])('names REDIS_SENTINELS for %s', (value) => {
    expect(variablesOf({ REDIS_SENTINELS: value, REDIS_SENTINEL_NAME: 'm' }).variables).toContain('REDIS_SENTINELS');
  });

  it('reads a Redis Cluster: seed nodes, password, TLS; and refuses sentinel settings with it', () => {
    const parsed = parseEnv(baseEnvSchema, { REDIS_CLUSTER_NODES: 'redis-0:6379,[fd00::2]:6380', REDIS_PASSWORD: 'p', REDIS_TLS: 'true' });
    expect(redisTarget(parsed)).toEqual({ kind: 'cluster', nodes: [{ host: 'redis-0', port: 6379 }, { host: 'fd00::2', port: 6380 }], password: 'p', tls: true });
    expect(describeRedisTarget(redisTarget(parsed))).toBe('Redis Cluster via redis-0:6379,fd00::2:6380');
    expect(variablesOf({ REDIS_CLUSTER_NODES: 'a:7000', REDIS_SENTINEL_NAME: 'm' }).variables).toEqual(['REDIS_SENTINEL_NAME']);
    expect(variablesOf({ REDIS_CLUSTER_NODES: 'a' }).variables).toEqual(['REDIS_CLUSTER_NODES']);
  });
});
