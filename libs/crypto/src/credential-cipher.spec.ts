import { randomBytes } from 'node:crypto';
import { CredentialCipher } from './credential-cipher';

const key = () => randomBytes(32).toString('base64');

describe('CredentialCipher', () => {
  it('round-trips and never contains the plaintext', () => {
    const cipher = new CredentialCipher(key());
    const token = cipher.encrypt('hunter2');
    expect(token).not.toContain('hunter2');
    expect(cipher.decrypt(token)).toBe('hunter2');
    expect(cipher.encrypt('hunter2')).not.toBe(token); // random IV
  });

  it('rejects tampering', () => {
    const cipher = new CredentialCipher(key());
    const parts = cipher.encrypt('secret').split(':');
    parts[4] = Buffer.from('tampered').toString('base64');
    expect(() => cipher.decrypt(parts.join(':'))).toThrow();
  });

  it('decrypts with a previous key after rotation', () => {
    const oldKey = key();
    const token = new CredentialCipher(oldKey).encrypt('pw');
    const rotated = new CredentialCipher(key(), [oldKey]);
    expect(rotated.decrypt(token)).toBe('pw');
    expect(rotated.needsRotation(token)).toBe(true);
    expect(rotated.needsRotation(rotated.encrypt('pw'))).toBe(false);
    expect(() => new CredentialCipher(key()).decrypt(token)).toThrow(/unknown key/);
  });
});
