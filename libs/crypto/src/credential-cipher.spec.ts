import { createCipheriv, randomBytes } from 'node:crypto';
import { CredentialBindingError, CredentialCipher } from './credential-cipher';

const key = () => randomBytes(32).toString('base64');
const imapOf = (accountId: string) => ({ accountId, field: 'imap' });

/** A value as written before credentials were bound (format v1, no additional data). */
function legacyValue(keyBase64: string, plaintext: string): string {
  const keyBytes = Buffer.from(keyBase64, 'base64');
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyBytes, iv);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', CredentialCipher.keyId(keyBytes), iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
}

describe('CredentialCipher', () => {
  it('round-trips and never contains the plaintext', () => {
    const cipher = new CredentialCipher(key());
    const token = cipher.encrypt('hunter2', imapOf('acc_1'));
    expect(token).not.toContain('hunter2');
    expect(token).toMatch(/^v2:/);
    expect(cipher.decrypt(token, imapOf('acc_1'))).toBe('hunter2');
    expect(cipher.encrypt('hunter2', imapOf('acc_1'))).not.toBe(token); // random IV
  });

  it('rejects tampering', () => {
    const cipher = new CredentialCipher(key());
    const parts = cipher.encrypt('secret', imapOf('acc_1')).split(':');
    parts[4] = Buffer.from('tampered').toString('base64');
    expect(() => cipher.decrypt(parts.join(':'), imapOf('acc_1'))).toThrow();
  });

  it('a value copied to another account does not decrypt there', () => {
    const cipher = new CredentialCipher(key());
    const token = cipher.encrypt('{"pass":"victim"}', imapOf('acc_victim'));
    let thrown: unknown;
    try {
      cipher.decrypt(token, imapOf('acc_attacker'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CredentialBindingError);
    expect((thrown as Error).message).toMatch(/imap of account acc_attacker does not authenticate/);
    expect((thrown as Error).message).not.toContain('victim');
  });

  it('a value copied to another field of the same account does not decrypt there', () => {
    const cipher = new CredentialCipher(key());
    const token = cipher.encrypt('{"pass":"imap-pw"}', { accountId: 'acc_1', field: 'imap' });
    expect(() => cipher.decrypt(token, { accountId: 'acc_1', field: 'smtp' })).toThrow(CredentialBindingError);
    // The separator keeps `a:b` + `c` apart from `a` + `b:c`.
    const odd = cipher.encrypt('x', { accountId: 'acc', field: 'imap' });
    expect(() => cipher.decrypt(odd, { accountId: 'acc:imap', field: '' })).toThrow();
  });

  it('reads legacy unbound values, and marks them for re-encryption', () => {
    const k = key();
    const cipher = new CredentialCipher(k);
    const legacy = legacyValue(k, 'old-pw');
    expect(cipher.decrypt(legacy, imapOf('acc_any'))).toBe('old-pw');
    expect(cipher.isBound(legacy)).toBe(false);
    expect(cipher.needsRotation(legacy)).toBe(true);
    expect(cipher.onPreviousKey(legacy)).toBe(false);
    const bound = cipher.encrypt(cipher.decrypt(legacy, imapOf('acc_1')), imapOf('acc_1'));
    expect(cipher.isBound(bound)).toBe(true);
    expect(cipher.needsRotation(bound)).toBe(false);
    // A legacy value cannot be relabelled as bound to skip the check: the tag no longer verifies.
    expect(() => cipher.decrypt(legacy.replace(/^v1:/, 'v2:'), imapOf('acc_1'))).toThrow(CredentialBindingError);
  });

  it('decrypts with a previous key after rotation', () => {
    const oldKey = key();
    const token = new CredentialCipher(oldKey).encrypt('pw', imapOf('acc_1'));
    const rotated = new CredentialCipher(key(), [oldKey]);
    expect(rotated.decrypt(token, imapOf('acc_1'))).toBe('pw');
    expect(rotated.needsRotation(token)).toBe(true);
    expect(rotated.onPreviousKey(token)).toBe(true);
    expect(rotated.needsRotation(rotated.encrypt('pw', imapOf('acc_1')))).toBe(false);
    expect(() => new CredentialCipher(key()).decrypt(token, imapOf('acc_1'))).toThrow(/unknown key/);
  });

  it('refuses to encrypt without a binding', () => {
    expect(() => new CredentialCipher(key()).encrypt('pw', { accountId: '', field: 'imap' })).toThrow(/account id and a field/);
  });
});
