import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** Values written before credentials were bound to their account: no additional data. Read only. */
const LEGACY_VERSION = 'v1';
/** Bound values: the GCM additional data is `accountId:field`. */
const BOUND_VERSION = 'v2';

/**
 * Where a stored credential belongs. It becomes the GCM additional authenticated data, so a value
 * copied to another account or another field (by anyone who can write to Redis but does not hold
 * the key) fails authentication instead of decrypting as that account's credentials.
 */
export interface CredentialBinding {
  accountId: string;
  /** The stored field, e.g. `imap` or `smtp`. */
  field: string;
}

/** A stored value that does not authenticate for the account and field it was read for. */
export class CredentialBindingError extends Error {
  constructor(binding: CredentialBinding) {
    super(`credential stored as ${binding.field} of account ${binding.accountId} does not authenticate there: it was copied from another account or field, or altered`);
    this.name = 'CredentialBindingError';
  }
}

/**
 * AES-256-GCM for credentials at rest. The key is used as given (32 random bytes), so no
 * per-account key derivation sits on the hot path. A short key id is stored with each value so
 * that a rotated key can still decrypt old values until they are re-encrypted.
 *
 * Format: `v2:<keyId>:<iv>:<tag>:<data>` (base64 parts). `v1` values (no additional data) are still
 * read so that an upgrade loses nothing; `pushmail cli reencrypt-credentials` rewrites them as `v2`.
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

  private static aad(binding: CredentialBinding): Buffer {
    if (!binding.accountId || !binding.field) throw new Error('a credential needs an account id and a field to be bound to');
    return Buffer.from(`${binding.accountId}:${binding.field}`, 'utf8');
  }

  encrypt(plaintext: string, binding: CredentialBinding): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentKeyId)!, iv);
    cipher.setAAD(CredentialCipher.aad(binding));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [BOUND_VERSION, this.currentKeyId, iv.toString('base64'), cipher.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  /** Throws CredentialBindingError when a bound value belongs to another account or field. */
  decrypt(token: string, binding: CredentialBinding): string {
    const [version, keyId, iv, tag, data] = token.split(':');
    if ((version !== BOUND_VERSION && version !== LEGACY_VERSION) || !iv || !tag || data === undefined) throw new Error('not an encrypted credential');
    const key = this.keys.get(keyId);
    if (!key) throw new Error(`credential was encrypted with unknown key ${keyId}`);
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    if (version === BOUND_VERSION) decipher.setAAD(CredentialCipher.aad(binding));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    const plaintext = decipher.update(Buffer.from(data, 'base64'));
    try {
      // update() yields bytes before the tag is checked: when it fails they are wiped, never returned.
      return Buffer.concat([plaintext, decipher.final()]).toString('utf8');
    } catch {
      plaintext.fill(0);
      if (version === BOUND_VERSION) throw new CredentialBindingError(binding);
      throw new Error('credential does not authenticate: it was altered');
    }
  }

  /** True when the value should be re-encrypted: an older key, or the legacy unbound format. */
  needsRotation(token: string): boolean {
    return token.split(':')[1] !== this.currentKeyId || !this.isBound(token);
  }

  /** True when the key id is a previous key's (rotation pending), whatever the format. */
  onPreviousKey(token: string): boolean {
    return token.split(':')[1] !== this.currentKeyId;
  }

  /** False for legacy `v1` values, which carry no account/field binding. */
  isBound(token: string): boolean {
    return token.startsWith(`${BOUND_VERSION}:`);
  }
}
