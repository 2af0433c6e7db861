import { Injectable } from '@nestjs/common';
import { FlagCommandJob, GetCommandJob, ImapCommandJobName, ImapCommandResults } from '@pushmail/contracts';
import { MessageNotFoundError } from './errors';
import { MessageAssembler } from './fetch/message-assembler';
import { MessageFetcher, withoutSessionFlags } from './fetch/message-fetcher';
import { ImapConnectionPool } from './imap/imap-connection.pool';
import { Pop3MailboxReader } from './pop3/pop3-mailbox.reader';
import { MessageLog } from './store/message-log';

/** The gateway's `message.flag` and `message.get`, run on the account's pooled IMAP connections. */
@Injectable()
export class ImapCommandsService {
  constructor(
    private readonly pool: ImapConnectionPool,
    private readonly fetcher: MessageFetcher,
    private readonly assembler: MessageAssembler,
    private readonly store: MessageLog,
    private readonly pop3: Pop3MailboxReader,
  ) {}

  /** Resolves only after the server confirmed the STORE, with the flags it now reports. */
  async flag(job: FlagCommandJob): Promise<ImapCommandResults[ImapCommandJobName.Flag]> {
    if (await this.pop3.handles(job.accountId)) return this.pop3.flag(job);
    return this.pool.withSession(job.accountId, async (session) => {
      await session.open(job.mailbox);
      const client = session.client;
      // A UID STORE on a message this session has not seen yet succeeds without effect; NOOP first
      // brings the session's view up to date (mail may have arrived since its last command).
      await client.noop();
      if (job.add.length && !(await client.messageFlagsAdd(String(job.uid), job.add, { uid: true }))) throw new Error('STORE +FLAGS failed');
      if (job.remove.length && !(await client.messageFlagsRemove(String(job.uid), job.remove, { uid: true }))) throw new Error('STORE -FLAGS failed');
      const row = await client.fetchOne(String(job.uid), { uid: true, flags: true }, { uid: true });
      if (!row || row.uid !== job.uid) throw new MessageNotFoundError(job.mailbox, job.uid);
      return { flags: withoutSessionFlags(row.flags) };
    });
  }

  /** The stored copy if there is one, else fetched, parsed and stored (without an event). */
  async get(job: GetCommandJob): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    if (await this.pop3.handles(job.accountId)) return this.getPop3(job);
    const found = await this.pool.withSession(job.accountId, async (session) => {
      const box = await session.open(job.mailbox);
      const ref = { accountId: job.accountId, mailbox: job.mailbox, uidValidity: Number(box.uidValidity) };
      const stored = await this.store.find(ref, job.uid);
      if (stored) return { ref, stored };
      // A client asks about a message it has seen listed: no waiting for it to arrive.
      const { outcomes } = await this.fetcher.fetchOnSession(session, job.mailbox, ref.uidValidity, [job.uid], { waitForArrival: false });
      return { ref, outcome: outcomes.get(job.uid) };
    });
    if ('stored' in found && found.stored) return { message: found.stored };
    const outcome = 'outcome' in found ? found.outcome : undefined;
    if (outcome?.status !== 'found') throw new MessageNotFoundError(job.mailbox, job.uid);
    const message = await this.assembler.assemble(found.ref, outcome.message);
    await this.store.storeWithoutEvent(message);
    return { message };
  }

  /** As {@link get}, read with RETR through the uid mapping. */
  private async getPop3(job: GetCommandJob): Promise<ImapCommandResults[ImapCommandJobName.Get]> {
    const ref = { accountId: job.accountId, mailbox: job.mailbox, uidValidity: await this.pop3.uidValidityOf(job.accountId, job.mailbox, job.uid) };
    const stored = await this.store.find(ref, job.uid);
    if (stored) return { message: stored };
    const outcome = await this.pop3.fetch({ ...ref, uid: job.uid });
    if (outcome.status !== 'found') throw new MessageNotFoundError(job.mailbox, job.uid);
    const message = await this.assembler.assemble(ref, outcome.message);
    await this.store.storeWithoutEvent(message);
    return { message };
  }
}
