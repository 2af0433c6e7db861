import { FetchJobSchema } from '@pushmail/contracts';
import { UnrecoverableError } from 'bullmq';
import { MessageNotFoundError } from '../errors';
import { asJobFailure, valid } from './job-failures';

describe('job failures', () => {
  it('turns permanent failures into UnrecoverableError and rethrows the rest unchanged', async () => {
    await expect(asJobFailure(() => Promise.reject(new MessageNotFoundError('INBOX', 3)))).rejects.toBeInstanceOf(UnrecoverableError);
    const transient = new Error('connection reset');
    await expect(asJobFailure(() => Promise.reject(transient))).rejects.toBe(transient);
    await expect(asJobFailure(() => Promise.resolve(7))).resolves.toBe(7);
  });

  it('rejects a malformed payload as permanent', async () => {
    await expect(asJobFailure(async () => valid(FetchJobSchema, { uid: 'x' }))).rejects.toThrow(/invalid job payload/);
    expect(valid(FetchJobSchema, { accountId: 'a', mailbox: 'INBOX', uidValidity: 1, uid: 2 })).toMatchObject({ uid: 2 });
  });
});
