import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { AccountRepository, AccountSource, StoredAccount } from '@pushmail/accounts';

/** How long one read of an account serves the fetch path (see {@link RecentAccounts}). */
export const ACCOUNT_READ_REUSE_MS = 5000;
/** Past this many entries, expired ones are swept (a burst over many accounts). */
const SWEEP_ABOVE = 10_000;

/**
 * Account reads of the fetch path, shared for a moment. An account's first new message read the
 * account three times, one Redis round trip after another: its protocol (IMAP or POP3), the
 * pooled connection's login settings, and whether it still exists before the append. A trace of
 * the notification ingress under load (1,000 accounts, 50 messages/s) put those reads at 1.8 ms
 * at p50 and 15 ms at p95 of a new account's message; one read then served all three. The third
 * is now made by the append script itself (MessageLog), so this serves the first two.
 *
 * A change notice (a PATCH, a delete) drops the account's entry at once, as it closes its pooled
 * connections, so no login uses settings older than a notice it has seen; were a notice lost
 * (a pub/sub reconnect), a read is reused for at most {@link ACCOUNT_READ_REUSE_MS}.
 * Concurrent callers share the read in flight.
 */
@Injectable()
export class RecentAccounts implements AccountSource, OnModuleInit {
  private readonly entries = new Map<string, { until: number; read: Promise<StoredAccount | null> }>();

  constructor(@Inject(AccountRepository) private readonly accounts: AccountSource) {}

  async onModuleInit(): Promise<void> {
    await this.accounts.onChange((notice) => this.entries.delete(notice.accountId));
  }

  get(accountId: string): Promise<StoredAccount | null> {
    const now = Date.now();
    const hit = this.entries.get(accountId);
    if (hit && hit.until > now) return hit.read;
    const entry = { until: now + ACCOUNT_READ_REUSE_MS, read: this.accounts.get(accountId) };
    this.entries.set(accountId, entry);
    // A failed read is not remembered: the next caller asks Redis again.
    entry.read.catch(() => {
      if (this.entries.get(accountId) === entry) this.entries.delete(accountId);
    });
    if (this.entries.size > SWEEP_ABOVE) this.sweep(now);
    return entry.read;
  }

  /** Changes as the repository reports them (after this cache has dropped the account). */
  onChange(handler: Parameters<AccountSource['onChange']>[0]): Promise<void> {
    return this.accounts.onChange(handler);
  }

  private sweep(now: number): void {
    for (const [id, entry] of this.entries) if (entry.until <= now) this.entries.delete(id);
  }
}
