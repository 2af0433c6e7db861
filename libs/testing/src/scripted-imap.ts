import type { ESearchResult, ListResponse, MailboxObject, MessageRangeOptions, SearchObject, SearchOptions, SearchReturnOption, StatusQuery } from 'imapflow';
import { FakeImapFlow } from './fakes';

/** One folder of a {@link ScriptedImapServer}: its UID space and the UIDs in it, ascending. */
export interface ScriptedFolder {
  uidValidity: number;
  uidNext: number;
  uids: number[];
}

/**
 * An IMAP server held in memory for unit tests of session state machines: its folders, what it
 * advertises, and how its logins go. Every {@link ScriptedImapFlow} made from it sees the same
 * folders, so mail delivered while a session was away is there when it reconnects. Not an IMAP
 * implementation: it answers the handful of imapflow calls a watching session makes (connect,
 * LIST, EXAMINE, UID SEARCH, IDLE, NOOP, LOGOUT) the way Dovecot does, and the integration tests
 * check the real thing.
 */
export class ScriptedImapServer {
  readonly folders = new Map<string, ScriptedFolder>();
  /** Capabilities after login; imapflow reads them into a Map. */
  capabilities = ['IMAP4rev1', 'IDLE', 'UIDPLUS'];
  /** When set, every login fails with what this returns (a refused password, a LIMIT, …). */
  loginError?: () => Error;
  /** The clients made so far, in order: the last one is the live connection. */
  readonly clients: ScriptedImapFlow[] = [];

  constructor(folderNames: string[] = ['INBOX']) {
    for (const name of folderNames) this.folders.set(name, { uidValidity: 1000 + this.folders.size, uidNext: 1, uids: [] });
  }

  /** A new connection to this server (not connected yet). */
  client(): ScriptedImapFlow {
    const client = new ScriptedImapFlow(this);
    this.clients.push(client);
    return client;
  }

  /**
   * New mail in `path`: the next UID, and an EXISTS on every live connection that has the folder
   * selected, as the server reports it under IDLE. Returns the UID.
   */
  deliver(path = 'INBOX'): number {
    const folder = this.folder(path);
    const uid = folder.uidNext++;
    folder.uids.push(uid);
    for (const client of this.clients) if (client.usable && client.selectedPath === path) client.emit('exists', { path, count: folder.uids.length, prevCount: folder.uids.length - 1 });
    return uid;
  }

  folder(path: string): ScriptedFolder {
    const folder = this.folders.get(path);
    if (!folder) throw new Error(`no folder ${path} on the scripted server`);
    return folder;
  }
}

/** A tagged NO, as imapflow rejects a command with it. */
function noResponse(text: string): Error {
  return Object.assign(new Error(`Command failed: ${text}`), { responseStatus: 'NO', responseText: text });
}

/**
 * One connection to a {@link ScriptedImapServer}. It records every command in `commands`
 * (`EXAMINE INBOX`, `UID SEARCH 5:*`, `IDLE`, …), counts server bytes in `stats().received` (one
 * per answer, enough for traffic detection), and ends IDLE when another command is sent, as
 * imapflow does. `drop()` is the server closing the socket; `hangNoop` makes NOOP unanswered
 * (a half-open connection).
 */
export class ScriptedImapFlow extends FakeImapFlow {
  readonly commands: string[] = [];
  /** The folder EXAMINEd last, which EXISTS is about. */
  selectedPath?: string;
  hangNoop = false;
  private received = 0;
  private endIdle?: () => void;

  constructor(private readonly server: ScriptedImapServer) {
    super();
  }

  override async connect(): Promise<void> {
    this.commands.push('LOGIN');
    this.received++;
    if (this.server.loginError) throw this.server.loginError();
    await super.connect();
    this.capabilities = new Map(this.server.capabilities.map((c) => [c, true]));
    this.enabled = new Set();
  }

  /** LIST, with each folder's STATUS when asked for (LIST-STATUS, whether advertised or not). */
  override async list(options?: { statusQuery?: StatusQuery }): Promise<ListResponse[]> {
    this.command(options?.statusQuery ? 'LIST RETURN (STATUS)' : 'LIST');
    return [...this.server.folders].map(([path, folder]) => ({
      path,
      pathAsListed: path,
      name: path,
      delimiter: '/',
      parent: [],
      parentPath: '',
      flags: new Set<string>(),
      listed: true,
      subscribed: true,
      ...(options?.statusQuery ? { status: { path, messages: folder.uids.length, uidNext: folder.uidNext, uidValidity: BigInt(folder.uidValidity), unseen: folder.uids.length } } : {}),
    }));
  }

  override async mailboxOpen(path: string | string[], options?: { readOnly?: boolean }): Promise<MailboxObject> {
    const name = Array.isArray(path) ? path.join('/') : path;
    this.command(`${options?.readOnly ? 'EXAMINE' : 'SELECT'} ${name}`);
    this.selectedPath = undefined;
    const folder = this.server.folders.get(name);
    if (!folder) throw noResponse('Mailbox does not exist');
    this.selectedPath = name;
    return { path: name, delimiter: '/', flags: new Set(), uidValidity: BigInt(folder.uidValidity), uidNext: folder.uidNext, exists: folder.uids.length, readOnly: options?.readOnly };
  }

  override search(query: SearchObject, options?: MessageRangeOptions): Promise<number[] | false | undefined>;
  override search(query: SearchObject, options: SearchOptions & { returnOptions: SearchReturnOption[] }): Promise<ESearchResult | number[] | false | undefined>;
  override search(query: SearchObject, options?: SearchOptions): Promise<ESearchResult | number[] | false | undefined>;
  override async search(query: SearchObject): Promise<number[]> {
    const folder = this.selectedPath === undefined ? undefined : this.server.folders.get(this.selectedPath);
    if (!folder) throw noResponse('No mailbox selected');
    if (typeof query.uid === 'string') {
      this.command(`UID SEARCH ${query.uid}`);
      const from = Number(query.uid.split(':')[0]);
      const found = folder.uids.filter((uid) => uid >= from);
      // `n:*` always matches the highest UID, even below n (RFC 3501 §6.4.8).
      return found.length || !folder.uids.length ? found : [folder.uids[folder.uids.length - 1]];
    }
    this.command(query.seen === false ? 'UID SEARCH UNSEEN' : 'UID SEARCH ALL');
    // Every message stays unseen: nothing here reads mail.
    return [...folder.uids];
  }

  override async fetchAll(): Promise<never[]> {
    this.command('UID FETCH');
    return [];
  }

  override idle(): Promise<boolean> {
    this.commands.push('IDLE');
    this.received++;
    this.idling = true;
    return new Promise((resolve) => {
      this.endIdle = () => {
        this.endIdle = undefined;
        this.idling = false;
        resolve(true);
      };
    });
  }

  override async noop(): Promise<void> {
    this.command('NOOP');
    if (this.hangNoop) return new Promise<void>(() => undefined);
    await super.noop();
  }

  override stats(): { sent: number; received: number } {
    return { sent: this.commands.length, received: this.received };
  }

  override close(): void {
    this.endIdle?.();
    super.close();
  }

  /** The server ends the connection (a restart, a network drop): imapflow's 'close' follows. */
  drop(): void {
    this.endIdle?.();
    this.usable = false;
    this.emit('close');
  }

  private command(name: string): void {
    this.endIdle?.();
    this.commands.push(name);
    if (!this.hangNoop || name !== 'NOOP') this.received++;
  }
}
