import { CreateAccountBody, redisKeys } from '@pushmail/contracts';
import { CredentialCipher } from '@pushmail/crypto';
import { REPO_ROOT, TestRedis, spawnTracked, testStores } from '@pushmail/testing';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const CLI = join(REPO_ROOT, 'dist/apps/cli/main.js');
const ENTRYPOINT = join(REPO_ROOT, 'deploy/docker/entrypoint.sh');
const newKey = () => randomBytes(32).toString('base64');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

/** Runs the built CLI exactly as the image does: through the entrypoint, `cli <command>`. */
function runCli(args: string[], env: Record<string, string>): Promise<Result> {
  const child = spawnTracked('sh', [ENTRYPOINT, 'cli', ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH, LOG_LEVEL: 'warn', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(last) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    }),
  );
}

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
    expect(result.json).toEqual({ command: 'check-credentials', accounts: 3, onCurrentKey: 0, onPreviousKey: 3, unreadable: [] });
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
    expect(result.json).toEqual({ command: 'reencrypt-credentials', reencrypted: 3, accounts: 3, onCurrentKey: 3, onPreviousKey: 0, unreadable: [] });

    // Readable with the new key alone, and identical to what was stored.
    const stores = testStores(redis.url, rotatedKey);
    try {
      for (const [i, id] of ids.entries()) {
        const stored = await stores.accounts.get(id);
        expect(stored?.imap).toEqual(account(i + 1).imap);
        expect(stored?.smtp).toEqual(account(i + 1).smtp);
      }
    } finally {
      await stores.close();
    }
    // The old key can no longer read anything, and no password is stored in the clear.
    const oldOnly = new CredentialCipher(oldKey);
    for (const id of ids) {
      for (const value of await rawValues(id)) {
        expect(value).not.toMatch(/secret-/);
        expect(() => oldOnly.decrypt(value!)).toThrow(/unknown key/);
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
