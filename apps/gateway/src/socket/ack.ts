import { AckError, ErrorCode } from '@pushmail/contracts';
import type { ZodError } from 'zod';

/** A failure a service can throw to answer the client with a contract error code. */
export class CommandError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export const fail = (code: ErrorCode, message: string): AckError => ({ ok: false, error: { code, message } });

/** Names the first bad field, e.g. `to.0.address: must not contain CR or LF`. */
export function describeZodError(error: ZodError, wholeValueName = '(body)'): { field: string; message: string } {
  const issue = error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : wholeValueName;
  return { field, message: `${field}: ${issue?.message ?? 'invalid'}` };
}

/** The error every unknown or foreign account gets, so a client cannot probe which accounts exist. */
export const forbidden = () => new CommandError('forbidden', 'no such account for this user');
