import type { AccountSource, StoredAccount, StoredImapAccount } from '@pushmail/accounts';
import type { AccountChangeNotice } from '@pushmail/contracts';
import type { ImapClientCreator } from '@pushmail/imap';
import { ImapFlow } from 'imapflow';

/**
 * Typed stand-ins for the narrow seams production classes take (`AccountSource`,
 * `ImapClientCreator`), so unit tests of pools and session state machines need neither Redis nor
 * an IMAP server nor an `as unknown as` cast. Integration tests use the real servers instead.
 */

/**
 * An imapflow client that never opens a socket: `connect`, `noop`, `logout` and `close` only
 * move `usable` and count, which is what connection bookkeeping reads. It is a real `ImapFlow`
 * (the constructor connects nothing), so it goes wherever one is typed; any other command would
 * reach imapflow with no socket and fail, which a test of bookkeeping should never do. `close()`
 * does not emit 'close', as the real one does, unless `emitCloseOnClose` is set.
 */
export class FakeImapFlow extends ImapFlow {
  connects = 0;
  noops = 0;
  logouts = 0;
  closes = 0;

  constructor(private readonly emitCloseOnClose = false) {
    super({ host: '127.0.0.1', port: 143, logger: false });
    this.usable = false;
  }

  override async connect(): Promise<void> {
    this.connects++;
    this.usable = true;
  }

  override async noop(): Promise<void> {
    this.noops++;
  }

  override async logout(): Promise<void> {
    this.logouts++;
    this.usable = false;
  }

  override close(): void {
    this.closes++;
    this.usable = false;
    if (this.emitCloseOnClose) this.emit('close');
  }
}

/** Hands out a new {@link FakeImapFlow} per `create`, keeping them in `clients` in order. */
export class FakeImapClientFactory implements ImapClientCreator {
  readonly clients: FakeImapFlow[] = [];
  readonly created: Array<{ settings: Parameters<ImapClientCreator['create']>[0]; accountId?: string }> = [];

  constructor(private readonly makeClient: () => FakeImapFlow = () => new FakeImapFlow()) {}

  async create(...[settings, , accountId]: Parameters<ImapClientCreator['create']>): Promise<ImapFlow> {
    const client = this.makeClient();
    this.clients.push(client);
    this.created.push({ settings, accountId });
    return client;
  }
}

/** An IMAP account as `AccountRepository.get` returns it, with loopback settings; override what the test is about. */
export function fakeImapAccount(id: string, overrides: Partial<Omit<StoredImapAccount, 'id' | 'protocol'>> = {}): StoredImapAccount {
  const server = { host: '127.0.0.1', port: 143, secure: false, user: 'user', pass: 'pass' };
  return {
    id,
    userId: 'user_1',
    email: 'user@example.test',
    mailboxes: ['INBOX'],
    smtp: { ...server, port: 587 },
    version: 1,
    createdAt: new Date(0).toISOString(),
    imap: server,
    ...overrides,
    protocol: 'imap',
  };
}

/**
 * Accounts held in memory: `get` answers from `accounts` (unknown ids with `fallback`, an IMAP
 * account by default; null makes them gone), and `change()` plays a notice to the handlers
 * registered with `onChange`, as the repository's subscriber would.
 */
export class FakeAccountSource implements AccountSource {
  readonly accounts = new Map<string, StoredAccount>();
  private readonly handlers: Array<(notice: AccountChangeNotice) => void> = [];

  constructor(private readonly fallback: ((id: string) => StoredAccount | null) | null = (id) => fakeImapAccount(id)) {}

  async get(id: string): Promise<StoredAccount | null> {
    return this.accounts.get(id) ?? this.fallback?.(id) ?? null;
  }

  async onChange(handler: (notice: AccountChangeNotice) => void): Promise<void> {
    this.handlers.push(handler);
  }

  change(notice: AccountChangeNotice): void {
    for (const handler of this.handlers) handler(notice);
  }
}
