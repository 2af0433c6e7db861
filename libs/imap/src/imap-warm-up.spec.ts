import { warmUpImapClient } from './imap-warm-up';

describe('warmUpImapClient', () => {
  it('logs a client in to the in-process responder, which serves one message as UID 1 of INBOX', async () => {
    let fetched: { uid: number; flags: string[]; text: string; uidValidity: number } | undefined;
    await warmUpImapClient({ disableAutoIdle: true, disableAutoEnable: true }, async (client) => {
      const box = await client.mailboxOpen('INBOX');
      await client.noop();
      const [row] = await client.fetchAll('1', { uid: true, flags: true, internalDate: true, size: true, source: { start: 0, maxLength: 65_536 } }, { uid: true });
      fetched = { uid: row.uid, flags: [...(row.flags ?? [])], text: row.source?.toString() ?? '', uidValidity: Number(box.uidValidity) };
    });
    expect(fetched).toMatchObject({ uid: 1, flags: ['\\Seen'], uidValidity: 1 });
    expect(fetched?.text).toContain('Subject: warm-up');
  });

  it('rejects with the failure of the work, and closes the client and the responder', async () => {
    let closed = false;
    await expect(
      warmUpImapClient({}, async (client) => {
        client.on('close', () => (closed = true));
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    expect(closed).toBe(true);
  });
});
