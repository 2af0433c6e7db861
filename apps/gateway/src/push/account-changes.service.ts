import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { AccountRepository } from '@pushmail/accounts';
import { AccountChangeNotice, ServerEvent } from '@pushmail/contracts';
import { SocketEmitter } from '../socket/socket-emitter';

/**
 * `account.changed` to the owner's sockets on this gateway: an account added, changed (the admin
 * API's PATCH: watched folders, POP3 interval, servers) or removed by another tab, device or the
 * operator. Without it a web client showed what it read at load until the page was reloaded.
 * Every gateway receives the accounts-changed notice itself, so each tells only its own sockets,
 * and reads the account only when one of them is the owner's.
 */
@Injectable()
export class AccountChangesService implements OnModuleInit {
  private readonly logger = new Logger(AccountChangesService.name);

  constructor(
    private readonly accounts: AccountRepository,
    private readonly emitter: SocketEmitter,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.accounts.onChange((notice) => {
      this.tell(notice).catch((err: unknown) => this.logger.warn({ msg: 'account.changed not sent', accountId: notice.accountId, err }));
    });
  }

  /**
   * Notices are handled in arrival order, and every view read goes down the same Redis connection,
   * so a client gets an account's changes in the order they were made; a view read after the
   * account was deleted finds nothing, and only `deleted` is sent.
   */
  private async tell(notice: AccountChangeNotice): Promise<void> {
    const { accountId, userId } = notice;
    // No owner: a notice that changes nothing a client shows (a pushed access token).
    if (!userId || !this.emitter.attached || !this.emitter.hasUserLocal(userId)) return;
    if (notice.change === 'deleted') {
      this.emitter.toUserLocal(userId, ServerEvent.AccountChanged, { accountId, change: 'deleted' });
      return;
    }
    const account = await this.accounts.view(accountId);
    // Checked again, although the notice names the owner: a view goes only to its owner's sockets.
    if (!account || account.userId !== userId) return;
    this.emitter.toUserLocal(userId, ServerEvent.AccountChanged, { accountId, change: notice.change, account });
  }
}
