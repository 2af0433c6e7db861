import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const VERSION = 'v1';

/**
 * AES-256-GCM for credentials at rest. The key is used as given (32 random bytes), so no
 * per-account key derivation sits on the hot path. A short key id is stored with each value so
 * that a rotated key can still decrypt old values until they are re-encrypted.
 */
export class CredentialCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly currentKeyId: string;

  constructor(currentKeyBase64: string, previousKeysBase64: string[] = []) {
    const current = CredentialCipher.decodeKey(currentKeyBase64);
    this.currentKeyId = CredentialCipher.keyId(current);
    this.keys = new Map([[this.currentKeyId, current]]);
    for (const k of previousKeysBase64) {
      const key = CredentialCipher.decodeKey(k);
      this.keys.set(CredentialCipher.keyId(key), key);
    }
  }

  static keyId(key: Buffer): string {
    return createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  private static decodeKey(base64: string): Buffer {
    const key = Buffer.from(base64, 'base64');
    if (key.length !== 32) throw new Error('encryption key must be 32 bytes (base64)');
    return key;
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId)!, iv);
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.currentKeyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  decrypt(token: string): string {
    const [version, keyId, iv, tag, data] = token.split(':');
    if (version !== VERSION || !iv || !tag || data === undefined) throw new Error('not an encrypted credential');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`credential was encrypted with unknown key ${keyId}`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
  }

  /** True when the value was encrypted with an older key and should be re-encrypted. */
  needsRotation(token: string): boolean {
    return token.split(':')[1] !== this.currentKeyId;
  }
}
