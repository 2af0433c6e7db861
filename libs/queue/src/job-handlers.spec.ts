import { FetchJob, MailboxJobName, QueueName, SendJob, SendJobName } from '@pushmail/contracts';
import { UnrecoverableError } from 'bullmq';
import { InvalidJobError, JobHandlerTable } from './job-handlers';

const sendTable = (seen: SendJob[] = []) =>
  new JobHandlerTable<QueueName.Send, string, number>(QueueName.Send, {
    [SendJobName.Send]: async (data, attempt) => {
      seen.push(data);
      return `sent ${data.sendId} on attempt ${attempt}`;
    },
  });

describe('JobHandlerTable', () => {
  it('gives each handler its payload as the contract parsed it, and the context', async () => {
    const seen: SendJob[] = [];
    await expect(sendTable(seen).run(SendJobName.Send, { accountId: 'acc_1', sendId: 'snd_1', extra: 'dropped' }, 2)).resolves.toBe('sent snd_1 on attempt 2');
    // The schema's parse, not the raw object: keys the contract does not know are gone.
    expect(seen).toEqual([{ accountId: 'acc_1', sendId: 'snd_1' }]);
  });

  it('fails a malformed payload for good, naming the field, without running the handler', async () => {
    const seen: SendJob[] = [];
    const table = sendTable(seen);
    await expect(table.run(SendJobName.Send, { accountId: 'acc_1' }, 1)).rejects.toThrow(/invalid job payload \(send send\).*sendId/s);
    await expect(table.run(SendJobName.Send, { accountId: 'acc 1', sendId: 'snd_1' }, 1)).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(table.run(SendJobName.Send, null, 1)).rejects.toBeInstanceOf(InvalidJobError);
    expect(seen).toEqual([]);
  });

  it('fails a job name its queue does not have for good', async () => {
    const err = await sendTable()
      .run('fetch', { accountId: 'acc_1', sendId: 'snd_1' }, 1)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect(String(err)).toMatch(/unknown job "fetch" on the send queue/);
    // Not a property of every object either.
    await expect(sendTable().run('toString', {}, 1)).rejects.toBeInstanceOf(InvalidJobError);
  });

  it('refuses at construction a table that lacks a job name of its queue, or has one it does not', () => {
    const fetchOnly = { [MailboxJobName.Fetch]: async (data: FetchJob) => data.uid };
    // The type refuses both tables already; the check at start-up holds where a cast got past it.
    // @ts-expect-error four job names of the queue have no handler
    expect(() => new JobHandlerTable<QueueName.MailboxEvents, number>(QueueName.MailboxEvents, fetchOnly)).toThrow(
      "the mailbox-events queue's handler table is incomplete: no handler for flags, deleted, reset, mailboxes-changed",
    );
    // @ts-expect-error `resend` is no job name of the send queue
    expect(() => new JobHandlerTable<QueueName.Send, string>(QueueName.Send, { [SendJobName.Send]: async () => 'ok', resend: async () => 'ok' })).toThrow(
      /a handler for resend, which the queue does not have/,
    );
  });
});
