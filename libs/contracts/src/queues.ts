/**
 * Every BullMQ queue and job name in pushmail. Producers and consumers import these enums so a
 * rename cannot leave one side listening on a queue nobody writes to.
 */
export enum QueueName {
  /** watcher → fetcher: mailbox changes seen over IMAP */
  MailboxEvents = 'mailbox-events',
  /** gateway → fetcher: commands that must run on the account's IMAP connection pool */
  ImapCommands = 'imap-commands',
  /** gateway → gateway send worker: outgoing mail over SMTP */
  Send = 'send',
}

export enum MailboxJobName {
  Fetch = 'fetch',
  Flags = 'flags',
  Deleted = 'deleted',
  Reset = 'reset',
  /** Folders were created, renamed or deleted: clients should read the folder list again. */
  MailboxesChanged = 'mailboxes-changed',
}

export enum ImapCommandJobName {
  Flag = 'flag',
  Get = 'get',
  MailboxList = 'mailbox-list',
  MessageList = 'message-list',
  MessageSearch = 'message-search',
  MessageMove = 'message-move',
  MessageDelete = 'message-delete',
}

export enum SendJobName {
  Send = 'send',
}

/** BullMQ rejects custom ids that contain ':', so parts are URI-encoded and joined with '_'. */
const idPart = (value: string | number): string => encodeURIComponent(String(value)).replace(/[_%]/g, (c) => (c === '_' ? '%5F' : c));

/** Deterministic job ids: a job enqueued twice for the same message runs once. */
export const jobIds = {
  fetch: (accountId: string, mailbox: string, uidValidity: number, uid: number) =>
    ['fetch', idPart(accountId), idPart(mailbox), idPart(uidValidity), uid].join('_'),
  flags: (accountId: string, mailbox: string, uidValidity: number, uid: number, modseq: string) =>
    ['flags', idPart(accountId), idPart(mailbox), idPart(uidValidity), uid, idPart(modseq)].join('_'),
  deleted: (accountId: string, mailbox: string, uidValidity: number, uid: number) =>
    ['deleted', idPart(accountId), idPart(mailbox), idPart(uidValidity), uid].join('_'),
  reset: (accountId: string, mailbox: string, uidValidity: number) =>
    ['reset', idPart(accountId), idPart(mailbox), idPart(uidValidity)].join('_'),
  mailboxesChanged: (accountId: string, changeId: string) => ['mailboxes', idPart(accountId), idPart(changeId)].join('_'),
  send: (accountId: string, idempotencyKey: string) => ['send', idPart(accountId), idPart(idempotencyKey)].join('_'),
};
