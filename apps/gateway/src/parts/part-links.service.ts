import { Injectable } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { PartLinkCheck, PartLinkScope, PartLinkSigner } from '@pushmail/auth';
import { ConfigService } from '@pushmail/config';
import { PartLink, partPath } from '@pushmail/contracts';
import { GatewayEnv } from '../config';
import { forbidden } from '../socket/ack';

/**
 * Signed part URLs: what a browser puts in `<a href>` and `<img src>` instead of the client token.
 * A link names one part of one message of one account and dies within PART_LINK_TTL_SECONDS (≤ 5 min).
 */
@Injectable()
export class PartLinksService {
  private readonly signer: PartLinkSigner;
  private readonly ttlSeconds: number;

  constructor(
    private readonly accounts: AccountRepository,
    config: ConfigService<GatewayEnv>,
  ) {
    this.signer = new PartLinkSigner(config.get('AUTH_JWT_SECRET'));
    this.ttlSeconds = config.get('PART_LINK_TTL_SECONDS');
  }

  /** A link for the user's own account; another user's account is `forbidden`, like every command. */
  async issue(userId: string, scope: PartLinkScope): Promise<PartLink> {
    if (!(await this.accounts.isOwnedBy(scope.accountId, userId))) throw forbidden();
    const exp = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    const query = new URLSearchParams({ exp: String(exp), sig: this.signer.sign(scope, exp) });
    return { url: `${partPath(scope.accountId, scope.mailbox, scope.uid, scope.partId)}?${query}`, expiresAt: new Date(exp * 1000).toISOString() };
  }

  check(scope: PartLinkScope, exp: string, sig: string): PartLinkCheck {
    return /^\d{1,12}$/.test(exp) ? this.signer.check(scope, Number(exp), sig) : { ok: false, code: 'invalid' };
  }
}
