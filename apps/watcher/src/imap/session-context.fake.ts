import { LeaseLostError, MailboxCursor } from '@pushmail/mailbox-cursors';
import { FakeImapClientFactory, ScriptedImapFlow, ScriptedImapServer } from '@pushmail/testing';
import { Counter, Histogram } from 'prom-client';
import { MailboxBatch } from '../sync/mailbox-sync.service';
import { SessionTimings } from './host-overrides';
import { SessionContext, SessionState } from './imap-session';
import { LoginLimiter } from './login-limiter';

/*
 * Typed fakes of what the watcher's sessions (IMAP and POP3) are handed, for their unit specs:
 * like immich's `*.mock.ts`, shared instead of a cast per spec. Not built into the app.
 */

export const TIMINGS: SessionTimings = {
  POLL_INTERVAL_MS: 30_000,
  IDLE_RESTART_MS: 1_500_000,
  HALF_OPEN_TIMEOUT_MS: 60_000,
  NOOP_TIMEOUT_MS: 30,
  BACKOFF_MIN_MS: 1000,
  BACKOFF_MAX_MS: 300_000,
  AUTH_FAILURE_BACKOFF_MS: 3_600_000,
  DISABLE_IDLE: false,
  FOLDER_SWEEP_INTERVAL_MS: 30_000,
  FOLDER_LIST_INTERVAL_MS: 300_000,
  DISABLE_NOTIFY: false,
  // New mail's resync runs at once, so a test need not wait out the settle.
  RESYNC_SETTLE_MS: 0,
};

/**
 * A typed fake of the watcher's shared session context over a {@link ScriptedImapServer}: fetch
 * jobs and cursors are recorded in memory (no Redis), logins go to the scripted server.
 */
export class FakeSessionContext implements SessionContext {
  readonly server = new ScriptedImapServer();
  readonly clients = new FakeImapClientFactory(() => this.server.client());
  readonly enqueued: Array<{ mailbox: string; uidValidity: number; batch: MailboxBatch }> = [];
  readonly cursors = new Map<string, MailboxCursor>();
  readonly warnings: unknown[] = [];
  /** How many `mailboxes.changed` events the sessions asked for. */
  folderListChanges = 0;
  /** The next cursor write finds the lease taken by another watcher. */
  leaseLost = false;
  timings: SessionTimings = { ...TIMINGS };

  readonly factory: SessionContext['factory'] = {
    create: (...args) => this.clients.create(...args),
    checkCredential: async () => undefined,
    loginRefused: async () => false,
  };
  readonly limiter = new LoginLimiter(10, 10);
  readonly sync: SessionContext['sync'] = {
    enqueue: async (ref, uidValidity, batch) => {
      this.enqueued.push({ mailbox: ref.mailbox, uidValidity, batch });
      return batch.newUids?.length ?? 0;
    },
    withdraw: async () => undefined,
    getCursor: async (ref) => this.cursors.get(ref.mailbox) ?? null,
    saveCursor: async (ref, cursor) => {
      if (this.leaseLost) throw new LeaseLostError(ref.accountId);
      this.cursors.set(ref.mailbox, cursor);
    },
    mailboxesChanged: async () => {
      this.folderListChanges++;
    },
  };
  readonly metrics: SessionContext['metrics'] = {
    existsToEnqueue: new Histogram({ name: 'test_exists_to_enqueue_ms', help: 'test', registers: [] }),
    uidGuesses: new Counter({ name: 'test_uid_guesses_total', help: 'test', labelNames: ['outcome'], registers: [] }),
    authFailures: new Counter({ name: 'test_auth_failures_total', help: 'test', registers: [] }),
    reconnects: new Counter({ name: 'test_reconnects_total', help: 'test', registers: [] }),
  };
  readonly timingsFor = () => this.timings;
  readonly watcherId = 'watcher-test';
  readonly logger: SessionContext['logger'] = {
    log: () => undefined,
    debug: () => undefined,
    warn: (message: unknown) => {
      this.warnings.push(message);
    },
  };

  /** The fetch jobs enqueued so far, as the UIDs of each batch. */
  newUids(): number[][] {
    return this.enqueued.filter((e) => e.batch.newUids?.length).map((e) => e.batch.newUids!);
  }

  get live(): ScriptedImapFlow {
    return this.server.clients[this.server.clients.length - 1];
  }
}

/** Records every state the session reports, and lease losses. */
export class RecordingOwner {
  readonly states: SessionState[] = [];
  readonly leasesLost: string[] = [];
  /** Either kind of session: an ImapSession or a Pop3Poller. */
  onSessionState(session: { state: SessionState }): void {
    this.states.push(session.state);
  }
  onLeaseLost(accountId: string): void {
    this.leasesLost.push(accountId);
  }
}

