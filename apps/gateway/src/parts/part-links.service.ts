import { Injectable } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { PartLinkCheck, PartLinkScope, PartLinkSigner } from '@pushmail/auth';
import { PartLink, partPath } from '@pushmail/contracts';
import { PartSettings } from '../settings';
import { forbidden } from '../socket/ack';

/**
 * Signed part URLs: what a browser puts in `<a href>` and `<img src>` instead of the client token.
 * A link names one part of one message of one account and dies within PART_LINK_TTL_SECONDS (≤ 5 min).
 */
@Injectable()
export class PartLinksService {
  private readonly signer: PartLinkSigner;

  constructor(
    private readonly accounts: AccountRepository,
    private readonly settings: PartSettings,
  ) {
    this.signer = new PartLinkSigner(settings.linkSecret);
  }

  /** A link for the user's own account; another user's account is `forbidden`, like every command. */
  async issue(userId: string, scope: PartLinkScope): Promise<PartLink> {
    if (!(await this.accounts.isOwnedBy(scope.accountId, userId))) throw forbidden();
    const exp = Math.floor(Date.now() / 1000) + this.settings.linkTtlSeconds;
    const query = new URLSearchParams({ exp: String(exp), sig: this.signer.sign(scope, exp) });
    return { url: `${partPath(scope.accountId, scope.mailbox, scope.uid, scope.partId)}?${query}`, expiresAt: new Date(exp * 1000).toISOString() };
  }

  check(scope: PartLinkScope, exp: string, sig: string): PartLinkCheck {
    return /^\d{1,12}$/.test(exp) ? this.signer.check(scope, Number(exp), sig) : { ok: false, code: 'invalid' };
  }
}
