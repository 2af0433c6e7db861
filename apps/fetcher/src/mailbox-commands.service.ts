import { Injectable } from '@nestjs/common';
import {
  DEFAULT_PAGE_SIZE,
  ImapCommandJobName,
  ImapCommandResults,
  MailboxInfo,
  MailboxListJob,
  MessageDeleteJob,
  MessageListJob,
  MessageMoveJob,
  MessagePage,
  MessageSearchJob,
  MessageSummary,
  SearchQuery,
  SpecialUse,
  specialUses,
} from '@pushmail/contracts';
import type { FetchMessageObject, ImapFlow, ListResponse, MailboxObject, MessageAddressObject, MessageStructureObject, SearchObject } from 'imapflow';
import { MailboxNotFoundError } from './errors';
import { withoutSessionFlags } from './fetch/message-fetcher';
import { PooledConnection, ImapConnectionPool } from './imap/imap-connection.pool';
import { Pop3MailboxReader } from './pop3/pop3-mailbox.reader';

/** What a list fetches per message: no body, so a page costs one FETCH of envelopes. */
const SUMMARY_QUERY = { uid: true, flags: true, envelope: true, size: true, bodyStructure: true } as const;

/**
 * `mailbox.list`, `message.list`, `message.search`, `message.move` and `message.delete`, run on the
 * account's pooled IMAP connections. The IMAP server is the store: every answer here is read from
 * it (the gateway may serve INBOX's first page again from libs/page-cache, which the commands
 * processor fills and drops), and the events that follow a move or a delete come from the watcher
 * seeing the change, as for any other.
 */
@Injectable()
export class MailboxCommandsService {
  constructor(
    private readonly pool: ImapConnectionPool,
    private readonly pop3: Pop3MailboxReader,
  ) {}

  /** One LIST (with RETURN STATUS where the server has LIST-STATUS, else a STATUS per folder, done by imapflow). */
  mailboxes(job: MailboxListJob): Promise<ImapCommandResults[ImapCommandJobName.MailboxList]> {
    return this.pool.withSession(job.accountId, async (session) => {
      // Dovecot answers STATUS for the selected folder from this session's view: bring it up to date.
      if (session.client.mailbox) await session.refreshView();
      const listed = await session.client.list({ statusQuery: { messages: true, unseen: true, uidNext: true, uidValidity: true } });
      return { mailboxes: listed.map(toMailboxInfo) };
    });
  }

  /** Newest first by UID; `before` (exclusive) pages back without gaps or repeats while mail arrives. */
  async list(job: MessageListJob): Promise<MessagePage> {
    // POP3: from the watcher's uid mapping (the gateway allows INBOX only).
    if (await this.pop3.handles(job.accountId)) return this.pop3.list(job);
    const limit = job.limit ?? DEFAULT_PAGE_SIZE;
    return this.pool.withSession(job.accountId, async (session) => {
      const box = await selectFresh(session, job.mailbox);
      const ref = { accountId: job.accountId, mailbox: job.mailbox, uidValidity: Number(box.uidValidity) };
      if (box.exists === 0) return { messages: [], nextBefore: null, total: 0 };
      if (job.before === undefined) {
        // The first page by sequence numbers: one FETCH, no SEARCH. Sequence numbers are only used
        // to pick the range; the page's boundary (nextBefore) is a UID, so a later page is exact.
        const from = Math.max(1, box.exists - limit + 1);
        const rows = await session.client.fetchAll(`${from}:*`, SUMMARY_QUERY);
        const page = newestFirst(rows).slice(0, limit);
        const lowest = page.at(-1)?.uid;
        const more = from > 1 || rows.length > page.length;
        return { messages: page.map((row) => toSummary(ref, row)), nextBefore: more && lowest !== undefined ? lowest : null, total: box.exists };
      }
      if (job.before <= 1) return { messages: [], nextBefore: null, total: box.exists };
      const uids = await session.client.search({ uid: `1:${job.before - 1}` }, { uid: true });
      if (!uids) throw new Error('UID SEARCH failed');
      return { ...(await pageOf(session.client, ref, uids, undefined, limit)), total: box.exists };
    });
  }

  /** UID SEARCH over the whole folder; `before` and `limit` page the matches as `list` does. */
  search(job: MessageSearchJob): Promise<MessagePage> {
    const limit = job.limit ?? DEFAULT_PAGE_SIZE;
    return this.pool.withSession(job.accountId, async (session) => {
      const box = await selectFresh(session, job.mailbox);
      const ref = { accountId: job.accountId, mailbox: job.mailbox, uidValidity: Number(box.uidValidity) };
      if (box.exists === 0) return { messages: [], nextBefore: null, total: 0 };
      const uids = await session.client.search(toImapSearch(job.query), { uid: true });
      // imapflow answers false when the server refused the SEARCH: an error, not "no matches".
      if (!uids) throw new Error('UID SEARCH failed');
      return { ...(await pageOf(session.client, ref, uids, job.before, limit)), total: uids.length };
    });
  }

  /** UID MOVE (imapflow falls back to COPY, STORE \Deleted, EXPUNGE where MOVE is missing). */
  move(job: MessageMoveJob): Promise<ImapCommandResults[ImapCommandJobName.MessageMove]> {
    return this.pool.withSession(job.accountId, async (session) => {
      await selectFresh(session, job.mailbox);
      let moved: Map<number, number>;
      try {
        moved = await moveOn(session.client, job.uids, job.to);
      } catch (err) {
        if (!(err instanceof MailboxNotFoundError) || !job.create) throw err;
        await session.client.mailboxCreate(job.to);
        moved = await moveOn(session.client, job.uids, job.to);
      }
      return { moved: job.uids.map((uid) => ({ uid, newUid: moved.get(uid) ?? null })) };
    });
  }

  /** To the `\Trash` folder (created as "Trash" when the account has none); expunged there or when `permanent`. */
  async delete(job: MessageDeleteJob): Promise<ImapCommandResults[ImapCommandJobName.MessageDelete]> {
    // POP3: DELE (the gateway allows INBOX only); there is no Trash to move to.
    if (await this.pop3.handles(job.accountId)) return this.pop3.delete(job);
    return this.pool.withSession(job.accountId, async (session) => {
      const client = session.client;
      const trash = job.permanent ? undefined : await trashPath(client);
      await selectFresh(session, job.mailbox);
      if (job.permanent || trash === job.mailbox) {
        if (!(await client.messageDelete(job.uids.join(','), { uid: true }))) throw new Error('UID EXPUNGE failed');
      } else {
        await moveOn(client, job.uids, trash!);
      }
      return { deleted: job.uids };
    });
  }
}

/** SELECT, or a NOOP when the folder already is selected: a list must include mail that just arrived. */
async function selectFresh(session: PooledConnection, mailbox: string): Promise<MailboxObject> {
  if (session.client.mailbox && session.client.mailbox.path === mailbox) {
    await session.refreshView();
    return session.client.mailbox;
  }
  return session.open(mailbox);
}

async function moveOn(client: ImapFlow, uids: number[], to: string): Promise<Map<number, number>> {
  let result: Awaited<ReturnType<ImapFlow['messageMove']>>;
  try {
    result = await client.messageMove(uids.join(','), to, { uid: true });
  } catch (err) {
    if ((err as { serverResponseCode?: string }).serverResponseCode === 'TRYCREATE') throw new MailboxNotFoundError(to);
    throw err;
  }
  if (!result) {
    // imapflow answers false for any refusal; a missing target is the client's error, not ours.
    if (!(await client.list()).some((box) => box.path === to)) throw new MailboxNotFoundError(to);
    throw new Error('UID MOVE failed');
  }
  return result.uidMap ?? new Map();
}

async function trashPath(client: ImapFlow): Promise<string> {
  const listed = await client.list();
  const trash = listed.find((box) => box.specialUse === '\\Trash');
  if (trash) return trash.path;
  // Deleting must not lose mail on a server without a Trash folder: one is made, as mail clients do.
  return (await client.mailboxCreate('Trash')).path;
}

async function pageOf(client: ImapFlow, ref: SummaryRef, uids: number[], before: number | undefined, limit: number): Promise<Omit<MessagePage, 'total'>> {
  const below = (before === undefined ? uids : uids.filter((uid) => uid < before)).sort((a, b) => b - a);
  const chosen = below.slice(0, limit);
  if (!chosen.length) return { messages: [], nextBefore: null };
  const rows = await client.fetchAll(chosen.join(','), SUMMARY_QUERY, { uid: true });
  // A message expunged between SEARCH and FETCH is simply missing from the page.
  const messages = newestFirst(rows).map((row) => toSummary(ref, row));
  return { messages, nextBefore: below.length > chosen.length ? chosen.at(-1)! : null };
}

function newestFirst(rows: FetchMessageObject[]): FetchMessageObject[] {
  return [...rows].sort((a, b) => b.uid - a.uid);
}

export function toImapSearch(query: SearchQuery): SearchObject {
  const search: SearchObject = {};
  if (query.text !== undefined) search.text = query.text;
  if (query.from !== undefined) search.from = query.from;
  if (query.to !== undefined) search.to = query.to;
  if (query.subject !== undefined) search.subject = query.subject;
  if (query.unseen !== undefined) search.seen = !query.unseen;
  if (query.flagged !== undefined) search.flagged = query.flagged;
  // Midnight UTC: imapflow writes the date part of the ISO string, so the day is the one asked for.
  if (query.since !== undefined) search.since = new Date(`${query.since}T00:00:00Z`);
  if (query.before !== undefined) search.before = new Date(`${query.before}T00:00:00Z`);
  return search;
}

interface SummaryRef {
  accountId: string;
  mailbox: string;
  uidValidity: number;
}

export function toSummary(ref: SummaryRef, row: FetchMessageObject): MessageSummary {
  const envelope = row.envelope;
  const date = envelope?.date ? new Date(envelope.date) : null;
  return {
    ...ref,
    uid: row.uid,
    messageId: envelope?.messageId ?? null,
    subject: envelope?.subject ?? '',
    from: addresses(envelope?.from)[0] ?? null,
    to: addresses(envelope?.to),
    cc: addresses(envelope?.cc),
    date: date && !Number.isNaN(date.getTime()) ? date.toISOString() : null,
    flags: withoutSessionFlags(row.flags),
    size: row.size ?? 0,
    // A list downloads no bodies; the reader's message.get has the text.
    preview: '',
    hasAttachments: row.bodyStructure ? hasAttachment(row.bodyStructure) : false,
  };
}

function addresses(list: MessageAddressObject[] | undefined): Array<{ name: string; address: string }> {
  return (list ?? []).filter((a) => a.address || a.name).map((a) => ({ name: a.name ?? '', address: a.address ?? '' }));
}

export function hasAttachment(node: MessageStructureObject): boolean {
  if (node.childNodes?.length) return node.childNodes.some(hasAttachment);
  if (node.disposition?.toLowerCase() === 'attachment') return true;
  const named = Boolean(node.dispositionParameters?.filename ?? node.parameters?.name);
  return named && node.disposition?.toLowerCase() !== 'inline' && !node.type.toLowerCase().startsWith('text/');
}

export function toMailboxInfo(box: ListResponse): Omit<MailboxInfo, 'watched'> {
  const status = box.status;
  return {
    path: box.path,
    name: box.name,
    delimiter: box.delimiter || null,
    parent: box.parentPath ? box.parentPath : null,
    specialUse: knownSpecialUse(box.specialUse),
    subscribed: box.subscribed,
    messages: status?.messages ?? null,
    unseen: status?.unseen ?? null,
    uidNext: status?.uidNext ?? null,
    uidValidity: status?.uidValidity !== undefined ? Number(status.uidValidity) : null,
  };
}

function knownSpecialUse(value: string | undefined): SpecialUse | null {
  return (specialUses as readonly string[]).includes(value ?? '') ? (value as SpecialUse) : null;
}
