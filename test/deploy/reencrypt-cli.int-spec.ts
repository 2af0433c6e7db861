import { StoredAccount } from '@pushmail/accounts';
import { CreateAccountBody, redisKeys } from '@pushmail/contracts';
import { CredentialBindingError, CredentialCipher } from '@pushmail/crypto';
import { TestRedis, testStores } from '@pushmail/testing';
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { CLI, runCli } from './support/cli';

const newKey = () => randomBytes(32).toString('base64');
/** The IMAP settings of a stored account (these tests store IMAP accounts only). */
const imapOf = (stored: StoredAccount | null) => (stored?.protocol === 'imap' ? stored.imap : undefined);

const account = (n: number): CreateAccountBody => ({
  userId: `u${n}`,
  email: `user${n}@example.test`,
  imap: { host: 'imap.example.test', port: 993, secure: true, user: `user${n}`, pass: `imap-secret-${n}` },
  smtp: { host: 'smtp.example.test', port: 465, secure: true, user: `user${n}`, pass: `smtp-secret-${n}` },
  mailboxes: ['INBOX'],
});

describe('credential re-encryption command (key rotation), on real Redis', () => {
  let redis: TestRedis;
  const oldKey = newKey();
  const rotatedKey = newKey();
  const ids: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    redis = await TestRedis.start({ appendonly: true });
    const stores = testStores(redis.url, oldKey);
    try {
      for (let n = 1; n <= 3; n++) ids.push((await stores.accounts.create(account(n))).id);
    } finally {
      await stores.close();
    }
  });
  afterAll(() => redis?.dispose());

  const rawValues = async (id: string) => {
    const client = redis.client();
    try {
      return await client.hmget(redisKeys.account(id), 'imap', 'smtp');
    } finally {
      client.disconnect();
    }
  };

  it('check-credentials reports accounts still on the previous key and exits 2', async () => {
    const result = await runCli(['check-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: rotatedKey, PUSHMAIL_SECRET_KEY_PREVIOUS: oldKey });
    expect(result.code).toBe(2);
    expect(result.json).toEqual({ command: 'check-credentials', accounts: 3, onCurrentKey: 0, onPreviousKey: 3, unbound: 0, unreadable: [] });
  });

  it('refuses, changing nothing, when a value is under a key it was not given', async () => {
    const before = await Promise.all(ids.map(rawValues));
    const result = await runCli(['reencrypt-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: rotatedKey });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/3 account\(s\) are encrypted with a key that is neither PUSHMAIL_SECRET_KEY nor in PUSHMAIL_SECRET_KEY_PREVIOUS/);
    expect(await Promise.all(ids.map(rawValues))).toEqual(before);
  });

  it('reencrypt-credentials moves every account to the new key; the old key is then unnecessary', async () => {
    const result = await runCli(['reencrypt-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: rotatedKey, PUSHMAIL_SECRET_KEY_PREVIOUS: oldKey });
    expect(result.code).toBe(0);
    expect(result.json).toEqual({ command: 'reencrypt-credentials', reencrypted: 3, accounts: 3, onCurrentKey: 3, onPreviousKey: 0, unbound: 0, unreadable: [] });

    // Readable with the new key alone, and identical to what was stored.
    const stores = testStores(redis.url, rotatedKey);
    try {
      for (const [i, id] of ids.entries()) {
        const stored = await stores.accounts.get(id);
        expect(imapOf(stored)).toEqual(account(i + 1).imap);
        expect(stored?.smtp).toEqual(account(i + 1).smtp);
      }
    } finally {
      await stores.close();
    }
    // The old key can no longer read anything, and no password is stored in the clear.
    const oldOnly = new CredentialCipher(oldKey);
    for (const id of ids) {
      for (const [i, value] of (await rawValues(id)).entries()) {
        expect(value).not.toMatch(/secret-/);
        expect(() => oldOnly.decrypt(value!, { accountId: id, field: ['imap', 'smtp'][i] })).toThrow(/unknown key/);
      }
    }
    const check = await runCli(['check-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: rotatedKey });
    expect(check.code).toBe(0);
    expect(check.json).toEqual(expect.objectContaining({ onCurrentKey: 3, onPreviousKey: 0 }));
  });

  it('survives a Redis restart (AOF): the rotation is durable', async () => {
    await redis.restart();
    const check = await runCli(['check-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: rotatedKey });
    expect(check.json).toEqual(expect.objectContaining({ accounts: 3, onCurrentKey: 3 }));
  });

  it('names bad variables and unknown commands, exiting 1', async () => {
    const bad = await runCli(['reencrypt-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: 'too-short' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/PUSHMAIL_SECRET_KEY: must be 32 bytes/);
    const unknown = await runCli(['rotate-everything'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: rotatedKey });
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toMatch(/unknown command "rotate-everything"/);
  });
});

/** A value as written before credentials were bound to their account (format v1, no additional data). */
function legacyValue(keyBase64: string, plaintext: string): string {
  const keyBytes = Buffer.from(keyBase64, 'base64');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyBytes, iv);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', CredentialCipher.keyId(keyBytes), iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
}

describe('credentials bound to their account and field (AES-GCM additional data), on real Redis', () => {
  let redis: TestRedis;
  const key = newKey();
  let legacyId: string;
  let otherId: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
    redis = await TestRedis.start();
    const stores = testStores(redis.url, key);
    try {
      legacyId = (await stores.accounts.create(account(1))).id;
      otherId = (await stores.accounts.create(account(2))).id;
    } finally {
      await stores.close();
    }
    // What an older release stored: the same settings, encrypted without binding.
    const client = redis.client();
    try {
      await client.hset(redisKeys.account(legacyId), {
        imap: legacyValue(key, JSON.stringify(account(1).imap)),
        smtp: legacyValue(key, JSON.stringify(account(1).smtp)),
      });
    } finally {
      client.disconnect();
    }
  });
  afterAll(() => redis?.dispose());

  const withClient = async <T>(fn: (client: ReturnType<TestRedis['client']>) => Promise<T>) => {
    const client = redis.client();
    try {
      return await fn(client);
    } finally {
      client.disconnect();
    }
  };

  it('legacy values still decrypt; check-credentials counts them as unbound and exits 2', async () => {
    const stores = testStores(redis.url, key);
    try {
      expect(imapOf(await stores.accounts.get(legacyId))).toEqual(account(1).imap);
    } finally {
      await stores.close();
    }
    const result = await runCli(['check-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: key });
    expect(result.code).toBe(2);
    expect(result.json).toEqual({ command: 'check-credentials', accounts: 2, onCurrentKey: 2, onPreviousKey: 0, unbound: 1, unreadable: [] });
  });

  it('reencrypt-credentials migrates legacy values to the bound format, settings unchanged', async () => {
    const result = await runCli(['reencrypt-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: key });
    expect(result.code).toBe(0);
    expect(result.json).toEqual({ command: 'reencrypt-credentials', reencrypted: 2, accounts: 2, onCurrentKey: 2, onPreviousKey: 0, unbound: 0, unreadable: [] });
    const values = await withClient((c) => c.hmget(redisKeys.account(legacyId), 'imap', 'smtp'));
    for (const value of values) expect(value).toMatch(/^v2:/);
    const stores = testStores(redis.url, key);
    try {
      const stored = await stores.accounts.get(legacyId);
      expect(imapOf(stored)).toEqual(account(1).imap);
      expect(stored?.smtp).toEqual(account(1).smtp);
    } finally {
      await stores.close();
    }
  });

  it('a value copied to another account or field is detected, never decrypted there', async () => {
    const [otherImap] = await withClient((c) => c.hmget(redisKeys.account(otherId), 'imap'));
    const [ownSmtp] = await withClient((c) => c.hmget(redisKeys.account(legacyId), 'smtp'));
    const stores = testStores(redis.url, key);
    try {
      // Another account's IMAP settings pasted into this account: the swap is refused, not used.
      await withClient((c) => c.hset(redisKeys.account(legacyId), 'imap', otherImap!));
      await expect(stores.accounts.get(legacyId)).rejects.toThrow(CredentialBindingError);
      const check = await runCli(['check-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: key });
      expect(check.code).toBe(2);
      expect(check.json).toMatchObject({ accounts: 2, unreadable: [legacyId] });
      const refused = await runCli(['reencrypt-credentials'], { REDIS_URL: redis.url, PUSHMAIL_SECRET_KEY: key });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/bound to another account or field/);
      expect(refused.stderr).not.toMatch(/secret-/);
      // The account's own SMTP value moved to its IMAP field: refused the same way.
      await withClient((c) => c.hset(redisKeys.account(legacyId), 'imap', ownSmtp!));
      await expect(stores.accounts.get(legacyId)).rejects.toThrow(/imap of account .* does not authenticate/);
      expect(imapOf(await stores.accounts.get(otherId))).toEqual(account(2).imap);
    } finally {
      await stores.close();
    }
  });
});
