import { InvalidJobError } from '@pushmail/queue';
import { UnrecoverableError } from 'bullmq';
import { MessageNotFoundError } from '../errors';
import { asJobFailure, isPermanent } from './job-failures';

describe('job failures', () => {
  it('turns permanent failures into UnrecoverableError and rethrows the rest unchanged', async () => {
    await expect(asJobFailure(() => Promise.reject(new MessageNotFoundError('INBOX', 3)))).rejects.toBeInstanceOf(UnrecoverableError);
    const transient = new Error('connection reset');
    await expect(asJobFailure(() => Promise.reject(transient))).rejects.toBe(transient);
    const invalid = new InvalidJobError('invalid job payload (mailbox-events fetch): uid');
    await expect(asJobFailure(() => Promise.reject(invalid))).rejects.toBe(invalid);
    await expect(asJobFailure(() => Promise.resolve(7))).resolves.toBe(7);
  });

  it('counts service failures and refused payloads as permanent, others as worth a retry', () => {
    expect(isPermanent(new MessageNotFoundError('INBOX', 3))).toBe(true);
    expect(isPermanent(new InvalidJobError('unknown job "x" on the imap-commands queue'))).toBe(true);
    expect(isPermanent(new Error('connection reset'))).toBe(false);
  });
});
