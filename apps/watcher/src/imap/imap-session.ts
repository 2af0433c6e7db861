import { Logger } from '@nestjs/common';
import { AccountState, ConnectionFailureCode, ServerSettings, WATCH_ALL_FOLDERS, watchedFolders } from '@pushmail/contracts';
import { ImapClientFactory, skipListBeforeSelect } from '@pushmail/imap';
import { classifyConnectionError } from '@pushmail/net-policy';
import type { ImapFlow, ListResponse, MailboxObject, StatusQuery } from 'imapflow';
import { LeaseLostError } from '@pushmail/mailbox-cursors';
import { MailboxSyncService } from '../sync/mailbox-sync.service';
import { WatcherMetrics } from '../watcher.metrics';
import { fullJitterBackoff, jitteredDelay } from './backoff';
import { slimFolderCache } from './folder-cache';
import { ExistsEvent, ExpungeEvent, FlagsEvent, FolderOwner, FolderSync, FolderSyncContext, statusChanged } from './folder-sync';
import { SessionTimings, firstFolderCheckBase, folderCheckInterval } from './host-overrides';
import { LoginLimiter } from './login-limiter';
import { UntaggedResponse, commandLayer, notifySetAttributes, parseListName, parseStatusResponse } from './notify-command';

/**
 * Shared by every session of the process: one object, not one per session. Typed by the parts the
 * sessions use (its folders' {@link FolderSyncContext} and a little more), so a spec can hand a
 * session typed fakes.
 */
export interface SessionContext extends FolderSyncContext {
  factory: Pick<ImapClientFactory, 'create' | 'checkCredential' | 'loginRefused'>;
  limiter: LoginLimiter;
  sync: FolderSyncContext['sync'] & Pick<MailboxSyncService, 'mailboxesChanged'>;
  metrics: FolderSyncContext['metrics'] & Pick<WatcherMetrics, 'authFailures' | 'reconnects'>;
  timingsFor: (host: string) => SessionTimings;
  watcherId: string;
  logger: Pick<Logger, 'log' | 'debug' | 'warn'>;
}

export interface SessionOwner {
  onSessionState(session: ImapSession): void;
  onLeaseLost(accountId: string): void;
}

export type SessionState = AccountState | 'stopped';

/** Bits of work a session owes; set by events, done one batch at a time. */
const NEW_MAIL = 1;
const CHANGES = 2;
const POLL = 4;
/** Folders other than the selected one changed (NOTIFY STATUS, or the sweep): examine and resync them. */
const FOLDERS = 8;
/** The folder list changed (NOTIFY MailboxName): list again. */
const LIST = 16;
/** No NOTIFY: time to ask every folder for its STATUS. */
const SWEEP = 32;
/** How long after a folder-list change the list is read once more (see onFolderListChanged). */
const FOLDER_LIST_RECHECK_MS = 3000;

/**
 * How often a connected session of an OAuth account asks for its credential: a cache read while
 * the token is fresh, the account's refresh when it is due (so the token stays warm for the
 * fetchers' and gateway's logins), and how a revoked grant is noticed within a token's lifetime
 * although the session itself, already logged in, would stay up.
 */
const OAUTH_CHECK_INTERVAL_MS = 3_000;

/** Server answers that mean "not now" rather than "wrong credentials". */
const TRANSIENT_LOGIN_CODES = new Set(['LIMIT', 'UNAVAILABLE', 'INUSE', 'SERVERBUG', 'CONTACTADMIN']);

function isAuthFailure(err: unknown): boolean {
  const e = err as { authenticationFailed?: boolean; serverResponseCode?: string };
  return !!e?.authenticationFailed && !TRANSIENT_LOGIN_CODES.has(String(e.serverResponseCode ?? '').toUpperCase());
}

/** A tagged NO: for EXAMINE, the folder is gone (or not selectable), not the connection. */
function isNoResponse(err: unknown): boolean {
  return (err as { responseStatus?: string })?.responseStatus === 'NO';
}

function errorText(err: unknown): string {
  const e = err as { responseText?: string; code?: string; message?: string };
  return String(e?.responseText || e?.message || e?.code || err).slice(0, 300);
}

/**
 * One IMAP connection watching every watched folder of an account. The home folder (INBOX when
 * watched) stays selected (read-only) under IDLE; the others are watched with NOTIFY (RFC 5465)
 * where the server has it, or a STATUS sweep every FOLDER_SWEEP_INTERVAL_MS where it has not, and
 * a folder reported changed is examined, resynced from its cursor (see {@link FolderSync}) and
 * left for the home folder again. A dropped connection is replaced by a new client; the
 * coordinator's shared tick drives reconnects, polls, sweeps and half-open checks, so a session
 * owns no timers of its own.
 */
export class ImapSession {
  state: SessionState = 'disconnected';
  /** What the account shows: a category, never the server's text or an errno. */
  lastError?: ConnectionFailureCode;
  /** The raw error behind it, for the logs only. */
  private lastErrorDetail?: string;
  nextAttemptAt = 0;
  /** The folder kept selected under IDLE (the {@link MailboxSession} seam's name). */
  mailbox: string;

  private client?: ImapFlow;
  private attempt = 0;
  private readonly folders = new Map<string, FolderSync>();
  /** The folder the connection has selected, which EXISTS, EXPUNGE and FETCH are about. */
  private selected?: FolderSync;
  /** Folders reported changed and not yet resynced. */
  private readonly dirtyFolders = new Set<string>();
  /** Wire names NOTIFY MailboxName reported since the last LIST → the old name of a renamed one. */
  private readonly renamedOrCreated = new Map<string, string | undefined>();
  /**
   * Folder names as the server sends them (modified UTF-7) → as the account names them, for the
   * names that differ (none, for ASCII names): a name not in it is the same on the wire.
   */
  private wireNames?: Map<string, string>;
  private idleSupported = false;
  private qresync = false;
  /** Every folder path of the last LIST, to tell clients when the folder list changed. */
  private listedPaths?: Set<string>;
  /** Folders found after the session's first LIST were created while it watched. */
  private listedOnce = false;
  /** When to list again while folders are changing (0: not due); see {@link onFolderListChanged}. */
  private listRecheckAt = 0;
  /** NOTIFY is set on this connection: no sweep needed. */
  private notifying = false;
  private dirty = 0;
  private draining = false;
  /** Pending drain of work announced early (see requestAfterSettle). */
  private settleTimer?: NodeJS.Timeout;
  private idlePending = false;
  private lastReceived = -1;
  private lastTrafficAt = 0;
  private lastPollAt = 0;
  private lastSweepAt = 0;
  private probing = false;
  private oauthCheckAt = 0;
  private oauthChecking = false;
  /** One retry with a fresh token after the server refused one, per successful connection. */
  private oauthRetried = false;
  private readonly timings: SessionTimings;
  /** Shared by this session's folders (one object, not one per folder). */
  private readonly folderOwner: FolderOwner;

  constructor(
    readonly accountId: string,
    /** The account's `mailboxes`: names, and `"*"` for every folder (see {@link watchedFolders}). */
    readonly watch: readonly string[],
    private readonly settings: ServerSettings,
    private readonly leaseValue: string,
    private readonly ctx: SessionContext,
    private readonly owner: SessionOwner,
  ) {
    this.timings = ctx.timingsFor(settings.host);
    this.folderOwner = { accountId, leaseValue, live: () => this.state !== 'stopped' };
    this.mailbox = watch.includes(WATCH_ALL_FOLDERS) || watch.some((m) => m.toUpperCase() === 'INBOX') ? 'INBOX' : watch[0];
  }

  /**
   * Whether anything beside the home folder is watched: an INBOX-only account costs what it did before
   * folders (IDLE alone: no NOTIFY, no sweep, no folder-list events).
   */
  private get watchesOthers(): boolean {
    return this.watch.includes(WATCH_ALL_FOLDERS) || this.folders.size > 1 || this.watch.length > 1;
  }

  /** The account's `delivery` once connected: `poll` where the server has no IDLE (or it is switched off for the host). */
  get delivery(): 'push' | 'poll' | undefined {
    if (this.state !== 'connected') return undefined;
    return this.idleSupported ? 'push' : 'poll';
  }

  /** Called by the shared tick loop. */
  tick(now: number): void {
    const { timings } = this;
    if (this.state === 'stopped' || this.state === 'connecting') return;
    if (this.state !== 'connected') {
      if (!this.client && now >= this.nextAttemptAt) void this.connect();
      return;
    }
    const client = this.client;
    if (!client) return;
    if (!client.usable) {
      this.client = undefined;
      client.close();
      this.connectionEnded('failed');
      this.scheduleRetry('error', this.lastError ?? 'connection_failed', this.lastErrorDetail ?? 'connection closed');
      return;
    }
    if (this.settings.oauth2 && !this.oauthChecking && now >= this.oauthCheckAt) this.checkOAuth(client, now);
    const received = client.stats().received;
    if (received !== this.lastReceived) {
      this.lastReceived = received;
      this.lastTrafficAt = now;
    } else if (!this.probing && now - this.lastTrafficAt >= timings.HALF_OPEN_TIMEOUT_MS) {
      void this.probe(client);
    }
    // With NOTIFY the sweep only lists the folders: Dovecot 2.3 at times reports a rename or a delete
    // late (with the folder's next change) or not at all, and clients should see the new list anyway.
    if (now - this.lastSweepAt >= folderCheckInterval(timings, this.notifying) && this.watchesOthers) {
      this.lastSweepAt = now;
      this.request(this.notifying ? LIST : SWEEP);
    } else if (this.listRecheckAt && now >= this.listRecheckAt) {
      this.listRecheckAt = 0;
      this.request(LIST);
    }
    if (!this.idleSupported) {
      if (now - this.lastPollAt >= timings.POLL_INTERVAL_MS) {
        this.lastPollAt = now;
        this.request(POLL);
      }
    } else if (!this.draining && !this.idlePending && !this.probing) {
      // IDLE ended without us (server-side end, imapflow's own timeout NOOP): start it again.
      this.startIdle(client);
    }
  }

  async connect(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'connecting' || this.client) return;
    const { factory, limiter, logger } = this.ctx;
    const { timings } = this;
    // 'connecting' before the first await: the tick must not start a second attempt meanwhile.
    this.setState('connecting');
    let client: ImapFlow;
    try {
      // Resolves and checks the host on every connect (DNS rebinding), see ImapClientFactory.
      client = await factory.create(
        this.settings,
        {
          disableAutoIdle: true,
          qresync: true,
          maxIdleTime: timings.IDLE_RESTART_MS,
          // imapflow's own inactivity watchdog is the backstop behind our half-open probe.
          socketTimeout: timings.HALF_OPEN_TIMEOUT_MS + timings.NOOP_TIMEOUT_MS + 60_000,
        },
        this.accountId,
      );
    } catch (err) {
      // No session was opened (the host was refused or did not resolve): nothing to log as closed.
      if (this.isStopped()) return;
      this.failed(err);
      return;
    }
    if (this.isStopped()) {
      client.close();
      return;
    }
    this.client = client;
    this.selected = undefined;
    this.notifying = false;
    client.on('error', (err: Error) => {
      this.lastError = classifyConnectionError(err);
      this.lastErrorDetail = errorText(err);
    });
    client.on('close', () => this.onClose(client));
    client.on('exists', (event: ExistsEvent) => {
      const folder = this.selected;
      if (!folder) return; // between folders: the next folder's resync searches anyway
      if (!folder.seenAt) folder.seenAt = Date.now();
      if (this.state === 'connected' && folder.announceGuesses(event)) this.requestAfterSettle(NEW_MAIL);
      else this.request(NEW_MAIL);
    });
    client.on('expunge', (event: ExpungeEvent) => {
      if (this.selected?.onExpunge(event)) this.request(CHANGES);
    });
    client.on('flags', (event: FlagsEvent) => {
      if (this.selected?.onFlags(event)) this.request(CHANGES);
    });
    for (const folder of this.folders.values()) folder.resetGuesses();
    logger.log({ msg: 'imap session open', accountId: this.accountId, mailbox: this.mailbox, watcher: this.ctx.watcherId, at: Date.now() });
    try {
      await limiter.run(this.settings.host, () => client.connect());
      if (this.client !== client) return;
      this.idleSupported = client.capabilities.has('IDLE') && !this.timings.DISABLE_IDLE;
      this.qresync = client.enabled.has('QRESYNC');
      await this.listFolders(client, false);
      // NOTIFY before the resyncs: a change after it is reported, one before it is found by them.
      await this.setNotify(client);
      // Every folder is examined once per connection (what happened while nobody watched), home last.
      const home = this.folders.get(this.mailbox);
      // A folder's change noticed before its visit is covered by it; one noticed after it (NOTIFY is
      // already set) stays marked and is visited again once connected, so it is not dropped.
      for (const folder of this.folders.values()) {
        if (folder === home) continue;
        this.dirtyFolders.delete(folder.mailbox);
        await this.visit(client, folder);
      }
      if (!home) throw Object.assign(new Error(`no folder to select: ${this.mailbox}`), { code: 'NoMailbox' });
      this.dirtyFolders.delete(home.mailbox);
      await this.visit(client, home, true);
      if (this.client !== client) return;
      // A close while resync was waiting on Redis is ignored by onClose (still connecting).
      if (!client.usable) throw Object.assign(new Error('connection closed during resync'), { code: 'NoConnection' });
      this.attempt = 0;
      const now = Date.now();
      this.lastTrafficAt = now;
      this.lastPollAt = now;
      this.lastSweepAt = firstFolderCheckBase(now, folderCheckInterval(this.timings, this.notifying));
      this.lastReceived = client.stats().received;
      this.lastError = undefined;
      this.lastErrorDetail = undefined;
      this.oauthRetried = false;
      this.setState('connected');
      this.afterWork(client);
    } catch (err) {
      this.fail(client, err);
    }
  }

  /**
   * LIST, then the watched folders from it: new ones get a {@link FolderSync} (and, once connected,
   * a resync, which baselines them), gone ones are dropped. Their cursors stay: a folder deleted and
   * created again then reports a reset for the old UIDVALIDITY. Returns the listing, and whether the
   * folder list differs from the last one.
   */
  private async listFolders(client: ImapFlow, connected: boolean, statusQuery?: StatusQuery): Promise<{ listed: ListResponse[]; moved: boolean }> {
    // An INBOX-only account needs no listing (one round trip less per connect, as before folders).
    const listed = this.watchesOthers ? await client.list(statusQuery ? { statusQuery } : undefined) : [];
    if (this.client !== client) return { listed, moved: false };
    let wireNames: Map<string, string> | undefined;
    for (const f of listed) if (f.pathAsListed !== f.path) (wireNames ??= new Map()).set(f.pathAsListed, f.path);
    this.wireNames = wireNames;
    const names = watchedFolders(this.watch, listed);
    const listedNames = new Set(listed.map((f) => (f.path.toUpperCase() === 'INBOX' ? 'INBOX' : f.path)));
    const added: string[] = [];
    for (const name of names) {
      const folder = this.folders.get(name);
      if (!folder) {
        const created = new FolderSync(name, this.folderOwner, this.ctx);
        // Appeared since this session first listed (created while watched): nothing in it is old news.
        created.fromStart = this.listedOnce;
        this.folders.set(name, created);
        added.push(name);
      } else if (folder.missing && listedNames.has(name)) {
        added.push(name);
      }
    }
    const removed = [...this.folders.keys()].filter((name) => !names.includes(name) && name !== this.mailbox);
    if (connected) await this.moveRenamedCursors(listed, added, removed);
    for (const name of removed) {
      this.folders.delete(name);
      this.dirtyFolders.delete(name);
    }
    if (connected) for (const name of added) this.dirtyFolders.add(name);
    this.listedOnce = true;
    if (connected && (added.length || removed.length)) this.ctx.logger.log({ msg: 'watched folders changed', accountId: this.accountId, added, removed });
    // Kept for the life of the connection: only what SELECT reads, for the watched folders.
    slimFolderCache(client, (path) => this.folders.get(path.toUpperCase() === 'INBOX' ? 'INBOX' : path)?.mailbox);
    // Not listed, so imapflow would LIST and LSUB before the EXAMINE: two round trips of every connect.
    if (!this.watchesOthers) skipListBeforeSelect(client, this.mailbox);
    // Any folder created, renamed or deleted (watched or not) changes what clients list. A watched
    // folder's name is the FolderSync's string: each LIST's copies are dropped.
    const paths = new Set(listed.map((f) => this.folders.get(f.path)?.mailbox ?? f.path));
    const before = this.listedPaths;
    this.listedPaths = paths;
    // Also on a reconnect (not connected yet, but listed before): what changed while it was down.
    const moved = !!before && (before.size !== paths.size || [...paths].some((p) => !before.has(p)));
    if (moved) await this.ctx.sync.mailboxesChanged(this.accountId);
    return { listed, moved };
  }

  /**
   * A sweep sees a rename as one folder gone and one new with the same UIDVALIDITY (a rename keeps
   * it; a new folder gets a new one): the cursor moves, so the renamed folder's mail is not replayed.
   */
  private async moveRenamedCursors(listed: ListResponse[], added: string[], removed: string[]): Promise<void> {
    const gone = removed.map((name) => this.folders.get(name)).filter((f): f is FolderSync => !!f?.cursor);
    if (!gone.length) return;
    for (const name of added) {
      const uidValidity = listed.find((f) => f.path === name)?.status?.uidValidity;
      const from = uidValidity === undefined ? undefined : gone.find((f) => f.uidValidity === Number(uidValidity));
      const cursor = from?.cursorToCarry();
      if (from && cursor && !(await this.ctx.sync.getCursor({ ...from.ref, mailbox: name }))) await this.ctx.sync.saveCursor({ ...from.ref, mailbox: name }, cursor);
    }
  }

  /**
   * NOTIFY said folders were created, renamed or deleted: a renamed folder's cursor moves to the
   * new name (same UIDVALIDITY, so it resumes where it was, also for mail that landed after the
   * rename but before Dovecot reported it), the list is read again, and every folder named is
   * resynced (one deleted and created again then reports its reset).
   */
  private async onFolderListChanged(client: ImapFlow): Promise<void> {
    const named = [...this.renamedOrCreated];
    this.renamedOrCreated.clear();
    const decode = (wire: string) => this.wireNames?.get(wire) ?? wire;
    for (const [wire, oldWire] of named) {
      const from = oldWire === undefined ? undefined : this.folders.get(decode(oldWire));
      const cursor = from?.cursorToCarry();
      if (!from || !cursor) continue;
      // Decoded only after the next LIST; an ASCII name (most) is the same on the wire.
      const to = decode(wire);
      if (this.folders.has(to) || (await this.ctx.sync.getCursor({ ...from.ref, mailbox: to }))) continue;
      await this.ctx.sync.saveCursor({ ...from.ref, mailbox: to }, cursor);
    }
    // UIDVALIDITY tells a renamed folder from a new one when no OLDNAME came (LIST-STATUS only: a
    // STATUS per folder for that would cost more than the replay it saves).
    const { listed, moved } = await this.listFolders(client, true, client.capabilities.has('LIST-STATUS') ? { uidValidity: true } : undefined);
    // Dovecot 2.3.19 at times reports nothing at all for a folder change made just after this
    // session's own LIST: a folder deleted 10 ms after the LIST that followed its rename notice was
    // never reported (the folders test, 2 runs in 3). While folders are changing, the list is read
    // once more FOLDER_LIST_RECHECK_MS later; a recheck that finds nothing new ends it, so a quiet
    // account costs nothing and a burst of changes one LIST more.
    this.listRecheckAt = named.length || moved ? Date.now() + FOLDER_LIST_RECHECK_MS : 0;
    const validityOf = new Map(listed.map((f) => [f.path.toUpperCase() === 'INBOX' ? 'INBOX' : f.path, f.status?.uidValidity]));
    for (const [wire, oldWire] of named) {
      const folder = this.folders.get(decode(wire));
      if (!folder || folder === this.selected) continue;
      // A create notice for a folder this session has already examined under the same UIDVALIDITY
      // is late news, not a change: Dovecot announces the special folders it auto-creates at a
      // user's first login just after NOTIFY SET, and revisiting them kept INBOX unselected while
      // mail arrived (found by a resync, not its EXISTS). Renames and re-creations are visited.
      const validity = validityOf.get(folder.mailbox);
      if (oldWire === undefined && validity !== undefined && folder.status?.uidValidity === Number(validity)) continue;
      this.dirtyFolders.add(folder.mailbox);
    }
  }

  /**
   * Asks the server to report changes to every folder on this connection. Where it cannot (no NOTIFY,
   * switched off for the host, or refused), the tick sweeps instead.
   */
  private async setNotify(client: ImapFlow): Promise<void> {
    const layer = commandLayer(client);
    if (!layer || !client.capabilities.has('NOTIFY') || this.timings.DISABLE_NOTIFY || !this.watchesOthers) return;
    // While imapflow runs a LIST, its own STATUS handler takes every untagged STATUS (LIST-STATUS),
    // so a NOTIFY STATUS sent during our LIST would be lost to this one. Dovecot 2.3.19 holds its
    // notifications until a command's tagged answer: none arrived inside 180 plain LISTs or 160 with
    // RETURN (STATUS) while another client appended 4,000 and 2,400 messages to 20 other folders.
    layer.untaggedHandlers.STATUS = async (untagged) => this.onNotifyStatus(client, untagged);
    // MailboxName and SubscriptionChange arrive as LIST responses: list again, which diffs, and
    // resync the folder named (created again under a new UIDVALIDITY, say).
    layer.untaggedHandlers.LIST = async (untagged) => {
      if (this.client !== client) return;
      const listed = parseListName(untagged);
      if (listed) this.renamedOrCreated.set(listed.name, listed.oldName);
      this.request(LIST);
    };
    try {
      const response = await layer.exec('NOTIFY', notifySetAttributes());
      response.next?.();
      this.notifying = true;
    } catch (err) {
      if (!isNoResponse(err) && (err as { responseStatus?: string })?.responseStatus !== 'BAD') throw err;
      this.ctx.logger.warn({ msg: 'server refused NOTIFY; sweeping folders instead', accountId: this.accountId, detail: errorText(err) });
    }
  }

  private async onNotifyStatus(client: ImapFlow, untagged: UntaggedResponse): Promise<void> {
    if (this.client !== client) return;
    const parsed = parseStatusResponse(untagged);
    if (!parsed) return;
    const name = this.wireNames?.get(parsed.wireName) ?? parsed.wireName;
    if (!this.listedPaths?.has(name) && !this.folders.has(name)) {
      // A folder the last LIST did not have: created or renamed, its MailboxName report late or lost.
      this.renamedOrCreated.set(parsed.wireName, undefined);
      this.request(LIST);
      return;
    }
    const folder = this.folders.get(name.toUpperCase() === 'INBOX' ? 'INBOX' : name);
    // A folder not watched (\Junk under "*", say), or an echo for the one selected (its own events cover it).
    if (!folder || folder === this.selected) return;
    // Dovecot echoes a STATUS for a folder some time after it was examined, with nothing changed
    // (seen on 2.3.19 after a folder's first EXAMINE). Revisiting on the echo took the session
    // through its folders again after a connect, with INBOX unselected meanwhile, so mail arriving
    // then was found by a resync instead of its EXISTS. With HIGHESTMODSEQ in it an unchanged STATUS
    // is no news (flag changes move it); without it one cannot tell, so the folder is visited.
    if (parsed.status.highestModseq !== undefined && !statusChanged(folder.status, parsed.status)) return;
    const now = Date.now();
    if (!folder.seenAt) folder.seenAt = now;
    // New mail's jobs at once, before the visit below leaves IDLE and examines the folder.
    const announced = folder.announceAssigned(parsed.status, now);
    this.dirtyFolders.add(folder.mailbox);
    if (announced) this.requestAfterSettle(FOLDERS);
    else this.request(FOLDERS);
  }

  /** No NOTIFY: one LIST with the folders' STATUS (LIST-STATUS, else a STATUS each), then resync what changed. */
  private async sweep(client: ImapFlow): Promise<void> {
    // Without CONDSTORE, UNSEEN is what shows a folder's messages read or unread elsewhere (see FolderSync.unseen).
    const statusQuery: StatusQuery = { messages: true, uidNext: true, uidValidity: true, ...(client.enabled.has('CONDSTORE') ? { highestModseq: true } : { unseen: true }) };
    const { listed } = await this.listFolders(client, true, statusQuery);
    for (const entry of listed) {
      const folder = this.folders.get(entry.path.toUpperCase() === 'INBOX' ? 'INBOX' : entry.path);
      if (!folder || folder === this.selected || !entry.status) continue;
      const s = entry.status;
      const status = {
        ...(s.messages !== undefined ? { messages: s.messages } : {}),
        ...(s.uidNext !== undefined ? { uidNext: s.uidNext } : {}),
        ...(s.uidValidity !== undefined ? { uidValidity: Number(s.uidValidity) } : {}),
        ...(s.highestModseq !== undefined ? { highestModseq: s.highestModseq.toString() } : {}),
        ...(s.unseen !== undefined ? { unseen: s.unseen } : {}),
      };
      if (!statusChanged(folder.status, status)) continue;
      folder.announceAssigned(status, Date.now());
      this.dirtyFolders.add(folder.mailbox);
    }
  }

  /**
   * Examines `folder` (read-only) and resyncs it from its cursor. A folder the server refuses to
   * open (deleted meanwhile) is marked missing and skipped, unless it is the home folder, without
   * which the session cannot IDLE.
   */
  private async visit(client: ImapFlow, folder: FolderSync, home = false): Promise<void> {
    this.selected = undefined;
    let mailbox: MailboxObject;
    try {
      mailbox = await client.mailboxOpen(folder.mailbox, { readOnly: true });
    } catch (err) {
      if (home || !isNoResponse(err)) throw err;
      folder.missing = true;
      this.ctx.logger.log({ msg: 'watched folder cannot be opened; skipped until listed again', accountId: this.accountId, mailbox: folder.mailbox, detail: errorText(err) });
      return;
    }
    this.selected = folder;
    await folder.resync(client, mailbox, this.qresync);
    if (folder.changes.length) await folder.flushChanges();
  }

  /** Closes the session for good (account released, changed or deleted, or shutdown). */
  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.state = 'stopped';
    if (!client) return;
    // LOGOUT is polite but must not hold up a hand-off: the socket is destroyed after 1 s anyway.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([client.logout().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    client.close();
    this.connectionEnded('stopped');
  }

  /** A method, not a field test: stop() may run while connect() awaits, which TypeScript's narrowing cannot see. */
  private isStopped(): boolean {
    return this.state === 'stopped';
  }

  /**
   * Work whose new mail already has its fetch jobs (announced from EXISTS or a NOTIFY STATUS) waits
   * RESYNC_SETTLE_MS before the session leaves IDLE for it. Its commands (UID SEARCH, or EXAMINE
   * and SEARCH of another folder and SELECT back) would otherwise reach the server in the same
   * milliseconds as the fetcher's SELECT/NOOP and UID FETCH of that very mail, for the same user:
   * on Dovecot that slowed the fetch by ~2.5 ms at p50 alone (two sessions, one user) and the
   * folders bench's other-folder push by 6-8 ms at p50. Nothing waits on the resync but the cursor
   * and the events of flag changes and expunges, which are not announced early and so never wait;
   * a guess the search proves wrong (rare) is corrected that much later. Bits asked for meanwhile
   * join the same drain; a drain started for anything else takes them at once.
   */
  private requestAfterSettle(bits: number): void {
    const settle = this.timings.RESYNC_SETTLE_MS;
    if (!settle) return this.request(bits);
    this.dirty |= bits;
    if (this.settleTimer || this.draining) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.request(0);
    }, settle);
  }

  private request(bits: number): void {
    this.dirty |= bits;
    if (this.state === 'connected' && !this.draining) void this.drain();
  }

  /** Does what events asked for, one batch at a time: EXISTS during a sync coalesces into one follow-up. */
  private async drain(): Promise<void> {
    const client = this.client;
    if (!client || this.draining) return;
    this.draining = true;
    try {
      while ((this.dirty || this.dirtyFolders.size) && this.client === client && this.state === 'connected') {
        const bits = this.dirty;
        this.dirty = 0;
        if (bits & POLL) await client.noop();
        const selected = this.selected;
        if (selected && (bits & NEW_MAIL || this.dirty & NEW_MAIL)) {
          this.dirty &= ~NEW_MAIL;
          await selected.syncNewMail(client);
        }
        if (selected?.changes.length) await selected.flushChanges();
        if (bits & LIST) await this.onFolderListChanged(client);
        if (bits & SWEEP) await this.sweep(client);
        if (this.dirtyFolders.size) await this.visitChanged(client);
      }
    } catch (err) {
      this.fail(client, err);
    } finally {
      this.draining = false;
    }
    this.afterWork(client);
  }

  /** Resyncs every folder reported changed, then selects the home folder again (resynced too: it was not watched meanwhile). */
  private async visitChanged(client: ImapFlow): Promise<void> {
    const home = this.folders.get(this.mailbox);
    const changed = [...this.dirtyFolders];
    this.dirtyFolders.clear();
    for (const name of changed) {
      const folder = this.folders.get(name);
      if (folder && folder !== home && this.client === client) await this.visit(client, folder);
    }
    if (home && this.selected !== home && this.client === client) await this.visit(client, home, true);
  }

  private afterWork(client: ImapFlow): void {
    if (this.client !== client || this.state !== 'connected') return;
    if (this.dirty || this.dirtyFolders.size || this.selected?.changes.length) {
      this.dirty |= this.selected?.changes.length ? CHANGES : 0;
      void this.drain();
      return;
    }
    if (this.idleSupported) this.startIdle(client);
  }

  private startIdle(client: ImapFlow): void {
    if (this.idlePending || client.idling) return;
    this.idlePending = true;
    client
      .idle()
      .catch(() => undefined)
      .finally(() => {
        this.idlePending = false;
      });
  }

  /** NOOP with a deadline after a long silence: a half-open connection never answers. */
  private async probe(client: ImapFlow): Promise<void> {
    this.probing = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.noop(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(Object.assign(new Error('NOOP timed out: connection is half-open'), { code: 'ETIMEOUT' })), this.timings.NOOP_TIMEOUT_MS))),
      ]);
      this.lastTrafficAt = Date.now();
    } catch (err) {
      this.ctx.logger.warn({ msg: 'imap connection unresponsive; reconnecting', accountId: this.accountId, mailbox: this.mailbox, err: errorText(err) });
      this.fail(client, err);
    } finally {
      clearTimeout(timer);
      this.probing = false;
    }
    this.afterWork(client);
  }

  private checkOAuth(client: ImapFlow, now: number): void {
    this.oauthCheckAt = now + OAUTH_CHECK_INTERVAL_MS;
    this.oauthChecking = true;
    this.ctx.factory.checkCredential(this.settings, this.accountId).then(
      () => (this.oauthChecking = false),
      (err: unknown) => {
        this.oauthChecking = false;
        // Revoked or lapsed: end the session so the account shows it; transient failures wait for the next check.
        if (isAuthFailure(err)) this.fail(client, err);
      },
    );
  }

  private onClose(client: ImapFlow): void {
    // While connecting, the pending connect()/command rejects and fail() classifies the error.
    if (this.client !== client || this.state !== 'connected') return;
    this.client = undefined;
    this.connectionEnded('dropped');
    this.scheduleRetry('disconnected', this.lastError ?? 'connection_failed', this.lastErrorDetail ?? 'connection closed');
  }

  private fail(client: ImapFlow, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.close();
    this.connectionEnded('failed');
    if (this.settings.oauth2 && !this.oauthRetried && isAuthFailure(err) && (err as { oauthFailure?: unknown }).oauthFailure === undefined) {
      // The server refused a token we held for valid (expired or revoked early): drop it and try
      // once more with a fresh one before calling the credentials wrong.
      this.oauthRetried = true;
      const retry = () => this.scheduleRetry('error', 'auth_failed', errorText(err));
      this.ctx.factory.loginRefused(client, this.settings, this.accountId).then(retry, retry);
      return;
    }
    this.failed(err);
  }

  /** After a failed attempt (with or without a client): lease lost, login refused, or retry later. */
  private failed(err: unknown): void {
    if (err instanceof LeaseLostError) {
      this.state = 'stopped';
      this.owner.onLeaseLost(this.accountId);
      return;
    }
    if (isAuthFailure(err)) {
      this.ctx.metrics.authFailures.inc();
      // A revoked OAuth grant or a lapsed pushed token shows as such (the user must sign in again).
      const code = classifyConnectionError(err);
      this.lastError = code === 'oauth_revoked' || code === 'oauth_token_expired' ? code : 'auth_failed';
      this.nextAttemptAt = Date.now() + jitteredDelay(this.timings.AUTH_FAILURE_BACKOFF_MS);
      this.ctx.logger.warn({ msg: 'imap login refused; backing off', accountId: this.accountId, detail: errorText(err), retryInMs: this.nextAttemptAt - Date.now() });
      this.setState('auth_failed');
      return;
    }
    this.scheduleRetry('error', classifyConnectionError(err), errorText(err));
  }

  /**
   * `reason` is what the account shows (a category: the raw text would turn the watcher into a
   * port scanner for users, ECONNREFUSED vs a greeting timeout); `detail` goes to the log only.
   */
  private scheduleRetry(state: 'disconnected' | 'error', reason: ConnectionFailureCode, detail: string): void {
    const { metrics, logger } = this.ctx;
    const { timings } = this;
    const delay = fullJitterBackoff(this.attempt++, timings.BACKOFF_MIN_MS, timings.BACKOFF_MAX_MS);
    this.nextAttemptAt = Date.now() + delay;
    this.lastError = reason;
    this.lastErrorDetail = undefined;
    metrics.reconnects.inc();
    logger.warn({ msg: 'imap session lost; reconnecting', accountId: this.accountId, mailbox: this.mailbox, reason, detail, retryInMs: delay });
    this.setState(state);
  }

  /** Every end of a connection passes here: its pending work is dropped (the next one resyncs everything) and the end logged. */
  private connectionEnded(why: string): void {
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    this.ctx.logger.log({ msg: 'imap session closed', accountId: this.accountId, mailbox: this.mailbox, watcher: this.ctx.watcherId, why, at: Date.now() });
  }

  private setState(state: SessionState): void {
    if (this.state === 'stopped') return;
    this.state = state;
    this.owner.onSessionState(this);
  }
}
