import { TestDovecot } from '@pushmail/testing';
import { MailboxNotFoundError } from '../src/errors';
import { PooledConnection } from '../src/imap/imap-connection.pool';

const USER = 'pooled@example.test';

describe('PooledConnection on Dovecot', () => {
  let dovecot: TestDovecot;

  beforeAll(async () => {
    dovecot = await TestDovecot.start({ users: { [USER]: 'secret' } });
  });

  afterAll(async () => {
    await dovecot?.dispose();
  });

  it('SELECTs without the LIST and LSUB imapflow sends before a first SELECT, and still reports a missing mailbox', async () => {
    // imapflow logs every command it writes at debug, as `{ src: 'c', msg: '<tag> <COMMAND> …' }`.
    const sent: string[] = [];
    const quiet = () => undefined;
    const logger = { debug: (entry: { src?: string; msg?: string }) => void (entry.src === 'c' && entry.msg && sent.push(entry.msg)), info: quiet, warn: quiet, error: quiet, trace: quiet };
    await dovecot.deliver(USER, { subject: 'one' });
    const client = await dovecot.imap(USER, { logger, disableAutoIdle: true });
    try {
      const session = new PooledConnection('account', client);
      const box = await session.open('INBOX');
      expect(box.path).toBe('INBOX');
      expect(box.exists).toBe(1);
      expect(Number(box.uidValidity)).toBeGreaterThan(0);
      const commands = sent.map((line) => line.split(' ')[1]?.toUpperCase());
      expect(commands).toContain('SELECT');
      expect(commands).not.toContain('LIST');
      expect(commands).not.toContain('LSUB');
      // A UID FETCH works on the mailbox so opened.
      const rows = await client.fetchAll('1:*', { uid: true, envelope: true }, { uid: true });
      expect(rows.map((r) => r.envelope?.subject)).toEqual(['one']);
      await expect(session.open('No such folder')).rejects.toBeInstanceOf(MailboxNotFoundError);
    } finally {
      await client.logout().catch(() => undefined);
    }
  });
});
