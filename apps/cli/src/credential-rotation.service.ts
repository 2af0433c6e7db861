import { Injectable } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { redisKeys } from '@pushmail/contracts';
import { CredentialBinding, CredentialCipher } from '@pushmail/crypto';
import { RedisService } from '@pushmail/redis';

export interface CredentialReport {
  accounts: number;
  /** Accounts whose settings are all encrypted with PUSHMAIL_SECRET_KEY. */
  onCurrentKey: number;
  /** Readable, but still encrypted with a PUSHMAIL_SECRET_KEY_PREVIOUS key. */
  onPreviousKey: number;
  /**
   * Accounts with a value in the legacy format that is not bound to its account and field (these
   * overlap the key counts above); `reencrypt-credentials` binds them.
   */
  unbound: number;
  /**
   * Encrypted with a key this process does not have, or holding a value bound to another account or
   * field (copied there): keep the old key until these are fixed.
   */
  unreadable: string[];
}

/**
 * Key rotation for stored IMAP/SMTP credentials: re-encrypts every account with the current key,
 * bound to its account and field, and reports which key each account's settings are encrypted with,
 * so an operator knows when the previous key can be dropped.
 */
@Injectable()
export class CredentialRotationService {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly redis: RedisService,
    private readonly cipher: CredentialCipher,
  ) {}

  async reencrypt(): Promise<{ reencrypted: number; report: CredentialReport }> {
    // Refuse up front rather than stop halfway: a value under a key we lack cannot be rewritten.
    const before = await this.check();
    if (before.unreadable.length) {
      throw new Error(
        `${before.unreadable.length} account(s) are encrypted with a key that is neither PUSHMAIL_SECRET_KEY nor in ` +
          `PUSHMAIL_SECRET_KEY_PREVIOUS, or hold a value bound to another account or field ` +
          `(${before.unreadable.slice(0, 10).join(', ')}); nothing was changed`,
      );
    }
    const reencrypted = await this.accounts.reencryptAll();
    return { reencrypted, report: await this.check() };
  }

  async check(): Promise<CredentialReport> {
    const report: CredentialReport = { accounts: 0, onCurrentKey: 0, onPreviousKey: 0, unbound: 0, unreadable: [] };
    for (const id of (await this.accounts.listIds()).sort()) {
      const [imap, smtp] = await this.redis.client.hmget(redisKeys.account(id), 'imap', 'smtp');
      const values = [
        { value: imap, binding: { accountId: id, field: 'imap' } },
        { value: smtp, binding: { accountId: id, field: 'smtp' } },
      ].filter((v): v is { value: string; binding: CredentialBinding } => v.value !== null);
      if (values.length === 0) continue;
      report.accounts++;
      if (!values.every((v) => this.readable(v.value, v.binding))) {
        report.unreadable.push(id);
        continue;
      }
      if (values.some((v) => this.cipher.onPreviousKey(v.value))) report.onPreviousKey++;
      else report.onCurrentKey++;
      if (values.some((v) => !this.cipher.isBound(v.value))) report.unbound++;
    }
    return report;
  }

  private readable(value: string, binding: CredentialBinding): boolean {
    try {
      this.cipher.decrypt(value, binding);
      return true;
    } catch {
      return false;
    }
  }
}
