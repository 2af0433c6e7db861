import { MailboxJobName, jobIds } from '@pushmail/contracts';
import { MailboxSyncService } from './mailbox-sync.service';

const ref = { accountId: 'acc_1', mailbox: 'INBOX', leaseValue: 'w|1' };

describe('MailboxSyncService.jobsFor', () => {
  it('makes one fetch job per new UID with deterministic ids and ids only', () => {
    const jobs = MailboxSyncService.jobsFor(ref, 7, { newUids: [3, 4], seenAt: 1000 });
    expect(jobs).toEqual([
      { name: MailboxJobName.Fetch, data: { accountId: 'acc_1', mailbox: 'INBOX', uidValidity: 7, uid: 3, seenAt: 1000 }, opts: { jobId: jobIds.fetch('acc_1', 'INBOX', 7, 3) } },
      { name: MailboxJobName.Fetch, data: { accountId: 'acc_1', mailbox: 'INBOX', uidValidity: 7, uid: 4, seenAt: 1000 }, opts: { jobId: jobIds.fetch('acc_1', 'INBOX', 7, 4) } },
    ]);
    expect(MailboxSyncService.jobsFor(ref, 7, { newUids: [3] })[0].opts.jobId).toBe(jobs[0].opts.jobId);
  });

  it('keys flag jobs by modseq and deleted jobs by uid; reset first', () => {
    const jobs = MailboxSyncService.jobsFor(ref, 7, {
      reset: { previousUidValidity: 6 },
      changes: [
        { kind: 'flags', uid: 3, flags: ['\\Seen'], modseq: '42' },
        { kind: 'deleted', uid: 4 },
      ],
    });
    expect(jobs.map((j) => j.name)).toEqual([MailboxJobName.Reset, MailboxJobName.Flags, MailboxJobName.Deleted]);
    expect(jobs[1].opts.jobId).toBe(jobIds.flags('acc_1', 'INBOX', 7, 3, '42'));
    expect(jobs[1].data).toEqual({ accountId: 'acc_1', mailbox: 'INBOX', uidValidity: 7, uid: 3, flags: ['\\Seen'], modseq: '42' });
    expect(jobs[2].opts.jobId).toBe(jobIds.deleted('acc_1', 'INBOX', 7, 4));
  });

  it('gives modseq-less flag changes distinct ids', () => {
    const a = MailboxSyncService.jobsFor(ref, 7, { changes: [{ kind: 'flags', uid: 3, flags: [] }] });
    const b = MailboxSyncService.jobsFor(ref, 7, { changes: [{ kind: 'flags', uid: 3, flags: [] }] });
    expect(a[0].opts.jobId).not.toBe(b[0].opts.jobId);
  });
});
