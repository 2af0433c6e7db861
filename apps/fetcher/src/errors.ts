/**
 * Failures that retrying cannot fix. Services throw these; the processors turn them into BullMQ's
 * UnrecoverableError so the job fails once instead of backing off through every attempt.
 */
export class PermanentJobError extends Error {}

export class MailboxNotFoundError extends PermanentJobError {
  constructor(mailbox: string) {
    super(`mailbox not found: ${mailbox}`);
    this.name = 'MailboxNotFoundError';
  }
}

/** The gateway maps "not found" in a command's failure to the client error `not_found`. */
export class MessageNotFoundError extends PermanentJobError {
  constructor(mailbox: string, uid: number) {
    super(`message not found: uid ${uid} in ${mailbox}`);
    this.name = 'MessageNotFoundError';
  }
}
