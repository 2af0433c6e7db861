import { Logger } from '@nestjs/common';
import { AccountState, ConnectionFailureCode, ServerSettings, WATCH_ALL_FOLDERS } from '@pushmail/contracts';
import { ImapClientFactory, isLoginRefused, skipListBeforeSelect } from '@pushmail/imap';
import { classifyConnectionError } from '@pushmail/net-policy';
import type { ImapFlow, ListResponse, MailboxObject, StatusQuery } from 'imapflow';
import { LeaseLostError } from '@pushmail/mailbox-cursors';
import { WatcherMetrics } from '../watcher.metrics';
import { fullJitterBackoff, jitteredDelay } from './backoff';
import { slimFolderCache } from './folder-cache';
import { ExistsEvent, ExpungeEvent, FlagsEvent, FolderSync } from './folder-sync';
import { SessionTimings, firstFolderCheckBase, folderCheckInterval } from './host-overrides';
import { LoginLimiter } from './login-limiter';
import { UntaggedResponse, commandLayer, notifySetAttributes, parseListName, parseStatusResponse } from './notify-command';
import { SessionFolders, SessionFoldersContext } from './session-folders';

/**
 * Shared by every session of the process: one object, not one per session. Typed by the parts the
 * sessions use (its folder list's {@link SessionFoldersContext} and a little more), so a spec can
 * hand a session typed fakes.
 */
export interface SessionContext extends SessionFoldersContext {
  factory: Pick<ImapClientFactory, 'create' | 'checkCredential' | 'loginRefused'>;
  limiter: LoginLimiter;
  metrics: SessionFoldersContext['metrics'] & Pick<WatcherMetrics, 'authFailures' | 'reconnects'>;
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

/**
 * How often a connected session of an OAuth account asks for its credential: a cache read while
 * the token is fresh, the account's refresh when it is due (so the token stays warm for the
 * fetchers' and gateway's logins), and how a revoked grant is noticed within a token's lifetime
 * although the session itself, already logged in, would stay up.
 */
const OAUTH_CHECK_INTERVAL_MS = 3_000;

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
 * left for the home folder again; which folders are watched and which changed is kept by
 * {@link SessionFolders}. A dropped connection is replaced by a new client; the
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
  /** The watched folders and which of them changed; kept across connections. */
  private readonly folders: SessionFolders;
  /** The folder the connection has selected, which EXISTS, EXPUNGE and FETCH are about. */
  private selected?: FolderSync;
  private idleSupported = false;
  private qresync = false;
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

  constructor(
    readonly accountId: string,
    /** The account's `mailboxes`: names, and `"*"` for every folder (see `watchedFolders` in contracts). */
    watch: readonly string[],
    private readonly settings: ServerSettings,
    /** What the folders fence their cursor writes with. */
    leaseValue: string,
    private readonly ctx: SessionContext,
    private readonly owner: SessionOwner,
  ) {
    this.timings = ctx.timingsFor(settings.host);
    this.mailbox = watch.includes(WATCH_ALL_FOLDERS) || watch.some((m) => m.toUpperCase() === 'INBOX') ? 'INBOX' : watch[0];
    // Shared by the session's folders (one owner object, not one per folder).
    const folderOwner = { accountId, leaseValue, live: () => this.state !== 'stopped' };
    this.folders = new SessionFolders(watch, this.mailbox, folderOwner, ctx);
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
    if (now - this.lastSweepAt >= folderCheckInterval(timings, this.notifying) && this.folders.watchesOthers) {
      this.lastSweepAt = now;
      this.request(this.notifying ? LIST : SWEEP);
    } else if (this.folders.recheckDue(now)) {
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
    this.folders.resetGuesses();
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
      for (const folder of this.folders.all()) {
        if (folder === home) continue;
        this.folders.unmark(folder);
        await this.visit(client, folder);
      }
      if (!home) throw Object.assign(new Error(`no folder to select: ${this.mailbox}`), { code: 'NoMailbox' });
      this.folders.unmark(home);
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
   * LIST (with `statusQuery`, for a sweep or to tell renames), taken in by the folder list; then
   * imapflow's folder cache is trimmed to what SELECT reads. Returns the listing, and whether the
   * folder list differs from the last one.
   */
  private async listFolders(client: ImapFlow, connected: boolean, statusQuery?: StatusQuery): Promise<{ listed: ListResponse[]; moved: boolean }> {
    // An INBOX-only account needs no listing (one round trip less per connect, as before folders).
    const listed = this.folders.watchesOthers ? await client.list(statusQuery ? { statusQuery } : undefined) : [];
    if (this.client !== client) return { listed, moved: false };
    const moved = await this.folders.listed(listed, connected);
    // Kept for the life of the connection: only what SELECT reads, for the watched folders.
    slimFolderCache(client, (path) => this.folders.get(path)?.mailbox);
    // Not listed, so imapflow would LIST and LSUB before the EXAMINE: two round trips of every connect.
    if (!this.folders.watchesOthers) skipListBeforeSelect(client, this.mailbox);
    return { listed, moved };
  }

  /**
   * NOTIFY said folders were created, renamed or deleted: renamed folders' cursors move, the list
   * is read again, and every folder named is marked for a visit (see {@link SessionFolders}).
   */
  private async onFolderListChanged(client: ImapFlow): Promise<void> {
    const named = await this.folders.carryRenamedCursors();
    // UIDVALIDITY tells a renamed folder from a new one when no OLDNAME came (LIST-STATUS only: a
    // STATUS per folder for that would cost more than the replay it saves).
    const { listed, moved } = await this.listFolders(client, true, client.capabilities.has('LIST-STATUS') ? { uidValidity: true } : undefined);
    this.folders.relisted(named, listed, moved, this.selected, Date.now());
  }

  /**
   * Asks the server to report changes to every folder on this connection. Where it cannot (no NOTIFY,
   * switched off for the host, or refused), the tick sweeps instead.
   */
  private async setNotify(client: ImapFlow): Promise<void> {
    const layer = commandLayer(client);
    if (!layer || !client.capabilities.has('NOTIFY') || this.timings.DISABLE_NOTIFY || !this.folders.watchesOthers) return;
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
      if (listed) this.folders.noteNamed(listed.name, listed.oldName);
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
    switch (this.folders.notifyStatus(parsed.wireName, parsed.status, this.selected, Date.now())) {
      case 'relist':
        return this.request(LIST);
      case 'announced':
        // Its jobs are out already: the visit need not beat the fetcher to the server.
        return this.requestAfterSettle(FOLDERS);
      case 'changed':
        return this.request(FOLDERS);
      case 'none':
        return;
    }
  }

  /** No NOTIFY: one LIST with the folders' STATUS (LIST-STATUS, else a STATUS each), then resync what changed. */
  private async sweep(client: ImapFlow): Promise<void> {
    // Without CONDSTORE, UNSEEN is what shows a folder's messages read or unread elsewhere (see FolderSync.unseen).
    const statusQuery: StatusQuery = { messages: true, uidNext: true, uidValidity: true, ...(client.enabled.has('CONDSTORE') ? { highestModseq: true } : { unseen: true }) };
    const { listed } = await this.listFolders(client, true, statusQuery);
    this.folders.swept(listed, this.selected, Date.now());
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
      while ((this.dirty || this.folders.hasDirty) && this.client === client && this.state === 'connected') {
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
        if (this.folders.hasDirty) await this.visitChanged(client);
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
    for (const name of this.folders.takeDirty()) {
      const folder = this.folders.get(name);
      if (folder && folder !== home && this.client === client) await this.visit(client, folder);
    }
    if (home && this.selected !== home && this.client === client) await this.visit(client, home, true);
  }

  private afterWork(client: ImapFlow): void {
    if (this.client !== client || this.state !== 'connected') return;
    if (this.dirty || this.folders.hasDirty || this.selected?.changes.length) {
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
        if (isLoginRefused(err)) this.fail(client, err);
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
    if (this.settings.oauth2 && !this.oauthRetried && isLoginRefused(err) && (err as { oauthFailure?: unknown }).oauthFailure === undefined) {
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
    if (isLoginRefused(err)) {
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
