import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { warmUpImapClient } from '@pushmail/imap';
import { MetricsService } from '@pushmail/observability';
import type { FetchMessageObject, MessageStructureObject } from 'imapflow';
import { ImapConnectionPool, POOLED_CLIENT_OPTIONS, PooledConnection } from '../imap/imap-connection.pool';
import { FetchSettings, MessageLimits } from '../settings';

export interface FetchedMessage {
  uid: number;
  flags: string[];
  internalDate: Date;
  size: number;
  structure?: MessageStructureObject;
  /** The whole message (BODY.PEEK[]), unless it is above MAX_MESSAGE_BYTES. */
  source?: Buffer;
  /** For an oversized message: its header block and the start of its first text part. */
  partial?: { headers: Buffer; text?: { leaf: MessageStructureObject; bytes: Buffer } };
}

export type FetchOutcome =
  | { status: 'found'; message: FetchedMessage }
  /** The server's highest UID is past this one, yet the message is not there: it was expunged. */
  | { status: 'expunged' }
  /** Not visible yet after the in-process retries (EXISTS can precede fetchability). */
  | { status: 'not-visible' }
  /** The mailbox's UIDVALIDITY changed: the UID belongs to a generation that no longer exists. */
  | { status: 'stale'; currentUidValidity: number };

export interface MessageRef {
  accountId: string;
  mailbox: string;
  uidValidity: number;
  uid: number;
  /** When the watcher saw the message arrive; a connection whose view is older must NOOP first. */
  seenAt?: number;
}

interface Deferred {
  resolve: (outcome: FetchOutcome) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  accountId: string;
  mailbox: string;
  uidValidity: number;
  waiting: Map<number, Deferred[]>;
  newestSeenAt: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Fetches messages over the account's pooled connections. Requests for the same mailbox that
 * arrive while a fetch is waiting for a connection join it, so a burst of new mail becomes one
 * `UID FETCH` per round instead of one per message. Bodies are fetched with BODY.PEEK[] (imapflow's
 * `source`), so fetching never sets \Seen.
 */
@Injectable()
export class MessageFetcher implements OnModuleInit {
  private readonly logger = new Logger(MessageFetcher.name);
  private readonly collecting = new Map<string, Batch>();
  private readonly batchSize;
  private readonly notYetVisible;

  constructor(
    private readonly pool: ImapConnectionPool,
    metrics: MetricsService,
    private readonly settings: FetchSettings,
    private readonly limits: MessageLimits,
  ) {
    this.batchSize = metrics.histogram('pushmail_fetch_batch_size', 'Messages per UID FETCH batch', [], [1, 2, 5, 10, 20, 50, 100, 200, 500]);
    this.notYetVisible = metrics.counter('pushmail_fetch_not_yet_visible_total', 'UIDs a UID FETCH did not return at first (announced before this connection could see them), looked for again');
  }

  /** Before the workers take jobs: see {@link warmUp}. A failed warm-up only costs the first message its time. */
  async onModuleInit(): Promise<void> {
    await this.warmUp().catch((err: Error) => this.logger.warn({ msg: 'IMAP warm-up skipped', err: err.message }));
  }

  /**
   * One fetch as a new message's takes it (SELECT, UID FETCH of the metadata and the first bytes),
   * on a client with the pool's options, against the in-process responder of
   * {@link warmUpImapClient}, so the first real message after a start does not wait while V8
   * compiles imapflow's paths.
   */
  async warmUp(): Promise<void> {
    await warmUpImapClient(POOLED_CLIENT_OPTIONS, async (client) => {
      const { outcomes } = await this.fetchOnSession(new PooledConnection('warm-up', client), 'INBOX', null, [1], { waitForArrival: false, withStructure: false });
      if (outcomes.get(1)?.status !== 'found') throw new Error('the warm-up message was not fetched');
    });
  }

  fetch(ref: MessageRef): Promise<FetchOutcome> {
    const key = `${ref.accountId}\n${ref.mailbox}\n${ref.uidValidity}`;
    let batch = this.collecting.get(key);
    if (!batch || batch.waiting.size >= this.settings.batchMax) {
      batch = { accountId: ref.accountId, mailbox: ref.mailbox, uidValidity: ref.uidValidity, waiting: new Map(), newestSeenAt: 0 };
      this.collecting.set(key, batch);
      void this.run(key, batch);
    }
    const waiting = batch.waiting;
    if (ref.seenAt && ref.seenAt > batch.newestSeenAt) batch.newestSeenAt = ref.seenAt;
    return new Promise<FetchOutcome>((resolve, reject) => {
      const list = waiting.get(ref.uid) ?? [];
      list.push({ resolve, reject });
      waiting.set(ref.uid, list);
    });
  }

  /**
   * Fetches `uids` on a session the caller holds. With `uidValidity` null the mailbox's current
   * generation is used (commands from the gateway do not know it).
   */
  async fetchOnSession(
    session: PooledConnection,
    mailbox: string,
    uidValidity: number | null,
    uids: number[],
    options: { waitForArrival: boolean; newestSeenAt?: number; withStructure?: boolean } = { waitForArrival: true, withStructure: true },
  ): Promise<{ uidValidity: number; outcomes: Map<number, FetchOutcome> }> {
    const outcomes = new Map<number, FetchOutcome>();
    let box = await session.open(mailbox);
    // Mail that arrived after this connection last synced is not visible to UID FETCH yet: one
    // NOOP now is cheaper than a fetch that misses, then a NOOP, then the fetch again.
    if (options.newestSeenAt && options.newestSeenAt >= session.viewSyncedAt) await session.refreshView();
    if (uidValidity !== null && Number(box.uidValidity) !== uidValidity) {
      // The pooled session may hold an old view; only a fresh SELECT tells.
      box = await session.open(mailbox, true);
      const current = Number(box.uidValidity);
      if (current !== uidValidity) {
        for (const uid of uids) outcomes.set(uid, { status: 'stale', currentUidValidity: current });
        return { uidValidity: current, outcomes };
      }
    }
    const client = session.client;
    const metas = new Map<number, FetchMessageObject>();
    const sources = new Map<number, Buffer>();
    // One round trip for what almost all mail needs: metadata plus the body up to a cap. Only
    // bigger messages take a second trip (whole body, or headers and first text part).
    // BODYSTRUCTURE is optional: parsing it took about a third of imapflow's CPU per message in a
    // probe, and the parser numbers the parts of well-formed mail exactly as the server does.
    const bodyStructure = options.withStructure !== false;
    const fetchMeta = async (list: number[]) => {
      const rows = await client.fetchAll(
        uidSet(list),
        { uid: true, flags: true, internalDate: true, size: true, bodyStructure, source: { start: 0, maxLength: this.settings.firstTripBytes } },
        { uid: true },
      );
      for (const row of rows) {
        if (!list.includes(row.uid)) continue;
        metas.set(row.uid, row);
        if (row.source && row.size !== undefined && row.source.length >= row.size) sources.set(row.uid, row.source);
      }
    };
    await fetchMeta(uids);
    let missing = uids.filter((uid) => !metas.has(uid));
    if (missing.length) this.notYetVisible.inc(missing.length);
    const retries = options.waitForArrival ? this.settings.missingRetryMs.length : 0;
    for (let attempt = 0; missing.length && attempt <= retries; attempt++) {
      if (attempt > 0) await sleep(this.settings.missingRetryMs[attempt - 1]);
      // NOOP lets the server tell this session about mail that arrived since its last command.
      await session.refreshView();
      await fetchMeta(missing);
      missing = uids.filter((uid) => !metas.has(uid));
      if (!missing.length) break;
      // A UID below UIDNEXT was assigned to a message; if it is not there now, it was expunged.
      const uidNext = await nextUid(session, mailbox);
      for (const uid of missing.filter((u) => u < uidNext)) outcomes.set(uid, { status: 'expunged' });
      missing = missing.filter((u) => u >= uidNext);
    }
    for (const uid of missing) outcomes.set(uid, { status: 'not-visible' });

    const found = [...metas.values()];
    const whole = found.filter((m) => !sources.has(m.uid) && (m.size ?? 0) <= this.limits.maxMessageBytes).map((m) => m.uid);
    if (whole.length) {
      for (const row of await client.fetchAll(uidSet(whole), { uid: true, source: true }, { uid: true })) if (row.source) sources.set(row.uid, row.source);
    }
    for (const meta of found) {
      const base: FetchedMessage = {
        uid: meta.uid,
        flags: withoutSessionFlags(meta.flags),
        internalDate: meta.internalDate instanceof Date ? meta.internalDate : new Date(meta.internalDate ?? Date.now()),
        size: meta.size ?? 0,
        structure: meta.bodyStructure,
      };
      if ((meta.size ?? 0) <= this.limits.maxMessageBytes) {
        const source = sources.get(meta.uid);
        outcomes.set(meta.uid, source ? { status: 'found', message: { ...base, source } } : { status: 'expunged' });
        continue;
      }
      const partial = await this.fetchPartial(session, meta);
      // fetchPartial reads BODYSTRUCTURE when the first trip did not.
      outcomes.set(meta.uid, partial ? { status: 'found', message: { ...base, structure: meta.bodyStructure, partial } } : { status: 'expunged' });
    }
    return { uidValidity: Number(box.uidValidity), outcomes };
  }

  /** The server's BODYSTRUCTURE of one message; undefined when it is gone or its generation is. */
  async fetchStructure(ref: MessageRef): Promise<MessageStructureObject | undefined> {
    return this.pool.withSession(ref.accountId, async (session) => {
      const box = await session.open(ref.mailbox);
      if (Number(box.uidValidity) !== ref.uidValidity) return undefined;
      const row = await session.client.fetchOne(String(ref.uid), { uid: true, bodyStructure: true }, { uid: true });
      return (row && row.bodyStructure) || undefined;
    });
  }

  /** Headers and the start of the first text part of an oversized message, never its attachments. */
  private async fetchPartial(session: PooledConnection, meta: FetchMessageObject): Promise<FetchedMessage['partial'] | null> {
    if (!meta.bodyStructure) {
      const row = await session.client.fetchOne(String(meta.uid), { uid: true, bodyStructure: true }, { uid: true });
      if (!row) return null;
      meta.bodyStructure = row.bodyStructure;
    }
    const leaf = meta.bodyStructure ? firstTextLeaf(meta.bodyStructure) : undefined;
    const key = leaf ? (leaf.part ?? '1') : undefined;
    const row = await session.client.fetchOne(
      String(meta.uid),
      { uid: true, headers: true, bodyParts: key ? [{ key, maxLength: this.limits.largeTextBytes }] : undefined },
      { uid: true },
    );
    if (!row || !row.headers) return null;
    const bytes = key ? row.bodyParts?.get(key) ?? row.bodyParts?.get(key.toLowerCase()) : undefined;
    return { headers: row.headers, text: leaf && bytes ? { leaf, bytes } : undefined };
  }

  private async run(key: string, batch: Batch): Promise<void> {
    try {
      // Jobs handed over by the same burst of Redis replies arrive within one I/O phase: letting
      // them join costs microseconds and saves a UID FETCH (and a socket write) for each.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await this.pool.withSession(batch.accountId, async (session) => {
        // From here on, new requests start the next batch.
        if (this.collecting.get(key) === batch) this.collecting.delete(key);
        const uids = [...batch.waiting.keys()].sort((a, b) => a - b);
        this.batchSize.observe(uids.length);
        const { outcomes } = await this.fetchOnSession(session, batch.mailbox, batch.uidValidity, uids, { waitForArrival: true, newestSeenAt: batch.newestSeenAt, withStructure: false });
        for (const [uid, deferreds] of batch.waiting) {
          const outcome = outcomes.get(uid) ?? { status: 'not-visible' };
          for (const d of deferreds) d.resolve(outcome);
        }
      });
    } catch (err) {
      if (this.collecting.get(key) === batch) this.collecting.delete(key);
      for (const deferreds of batch.waiting.values()) for (const d of deferreds) d.reject(err);
    }
  }
}

async function nextUid(session: PooledConnection, mailbox: string): Promise<number> {
  const status = await session.client.status(mailbox, { uidNext: true });
  return (status && status.uidNext) || 0;
}

/** `[1,2,3,5,7,8]` → `1:3,5,7:8`: consecutive UIDs travel as ranges in one UID FETCH. */
export function uidSet(uids: number[]): string {
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i];
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i] + 1) i++;
    ranges.push(start === sorted[i] ? String(start) : `${start}:${sorted[i]}`);
  }
  return ranges.join(',');
}

/** The first inline text/plain leaf (else text/html) in document order. */
export function firstTextLeaf(root: MessageStructureObject): MessageStructureObject | undefined {
  const leaves: MessageStructureObject[] = [];
  const walk = (node: MessageStructureObject) => {
    if (node.childNodes?.length && node.type.toLowerCase().startsWith('multipart/')) node.childNodes.forEach(walk);
    else leaves.push(node);
  };
  walk(root);
  const inline = leaves.filter((l) => l.disposition?.toLowerCase() !== 'attachment');
  return inline.find((l) => l.type.toLowerCase() === 'text/plain') ?? inline.find((l) => l.type.toLowerCase() === 'text/html');
}

/** \Recent belongs to one IMAP session (whichever saw the message first), not to the message. */
export function withoutSessionFlags(flags: Set<string> | undefined): string[] {
  return [...(flags ?? [])].filter((f) => f !== '\\Recent');
}
