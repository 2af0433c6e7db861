import { AppProcess, TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import { ImapFlow } from 'imapflow';
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Socket, io } from 'socket.io-client';
import { waitAllConnected } from '../lib/accounts';
import { now, sleep } from '../lib/clock';
import { bareClient, eachLimited } from '../lib/imap-clients';
import { BareNotifyClient } from '../lib/notify-client';
import { BENCH_DOVECOT_CONFIG, PASSWORD, USER_DOMAIN, appBuilt, appEnv, makeUsers, startRedis, userName } from '../lib/infra';
import { clientToken } from '../lib/jwt';
import { GcProbe, kb, mb } from '../lib/rss';
import { ScenarioRun, atMost, judged } from '../lib/scenario';
import { Summary, round1, summarize } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';
import { appTuning } from './tuning';

/** The figures at 1,000 accounts; a quick run keeps every step with small numbers. */
export const foldersParams = (quick: boolean) =>
  quick
    ? { accounts: 60, latencyAccounts: 5, floorAccounts: 5, perSeries: 10, ratePerSeries: 2, sweepMs: 3000, sweepDeliveries: 10 }
    : { accounts: 1000, latencyAccounts: 10, floorAccounts: 10, perSeries: 40, ratePerSeries: 2, sweepMs: 5000, sweepDeliveries: 30 };

/**
 * 15 folders made here; with INBOX and the template's Drafts, Sent, Trash and Junk, 20 per
 * account, of which `"*"` watches 18 (Trash and Junk are skipped). "Rules" gets the mail, as a
 * Sieve fileinto would file it.
 */
const MADE_FOLDERS = ['Rules', ...Array.from({ length: 14 }, (_v, i) => `Folder${i + 1}`)];
const FOLDERS_PER_ACCOUNT = MADE_FOLDERS.length + 5;
const OTHER = 'Rules';
const USER_ID = 'bench-folders';
/** Dovecot's mail uid/gid in the test template (`first_valid_uid = 1000`, static userdb). */
const MAIL_UID = 1000;

/**
 * Every folder live on one connection (issue 17). One Dovecot (with NOTIFY, its default) and
 * 1,000 accounts watching `["*"]` with 20 folders each, on one watcher, with the fetcher and
 * gateway as deployed:
 * - watcher RSS per account after forced GCs against the same build with no account, and
 *   Dovecot's IMAP sessions per account (`doveadm who`), before the fetcher opens any;
 * - LMTP ack → `message.new` at a Socket.IO client for mail delivered to `user` (INBOX) and to
 *   `user+Rules` (`lmtp_save_to_detail_mailbox`), beside the floor (LMTP ack → EXISTS at bare
 *   imapflow IDLE clients) measured over the same seconds;
 * - without NOTIFY: the same Dovecot restarted with NOTIFY taken out of its capability list (as
 *   the issue defines it) and the watcher restarted with a short `FOLDER_SWEEP_INTERVAL_MS`, mail
 *   into Rules → `message.new`.
 */
export async function foldersScenario(ctx: BenchContext): Promise<void> {
  const { log } = ctx;
  const fp = foldersParams(ctx.quick);
  const run = new ScenarioRun(ctx, 'folders', { ...fp, foldersPerAccount: FOLDERS_PER_ACCOUNT });
  let redis: TestRedis | undefined;
  let dovecot: TestDovecot | undefined;
  let stores: ReturnType<typeof testStores> | undefined;
  let gc: GcProbe | undefined;
  const apps: AppProcess[] = [];
  const floorClients: ImapFlow[] = [];
  const notifyFloorClients: BareNotifyClient[] = [];
  let socket: Socket | undefined;
  const startApp = async (app: 'watcher' | 'fetcher' | 'gateway', extra: Record<string, string> = {}, waitReady = true) => {
    const proc = await AppProcess.start(app, appEnv(redis!.url, ctx.secretKey, { AUTH_JWT_SECRET: ctx.jwtSecret, ...appTuning[app], ...extra }), { waitReady });
    apps.push(proc);
    return proc;
  };
  const stopApp = async (proc: AppProcess) => {
    await proc.stop();
    apps.splice(apps.indexOf(proc), 1);
  };
  try {
    await run.step('folders', async (r) => {
      if (!appBuilt('watcher') || !appBuilt('fetcher') || !appBuilt('gateway')) throw new NotRun('dist/apps is not built');
      const users = Array.from({ length: fp.accounts }, (_v, i) => userName('fold', i));
      const floorUsers = Array.from({ length: fp.floorAccounts }, (_v, i) => userName('ffloor', i));
      // The floor of mail into another folder: bare NOTIFY clients' own accounts, with the same folders.
      const notifyFloorUsers = Array.from({ length: fp.floorAccounts }, (_v, i) => userName('fnfloor', i));
      const latencyUsers = users.slice(0, fp.latencyAccounts);
      log(`folders: Dovecot with ${users.length} users × ${FOLDERS_PER_ACCOUNT} folders, Redis`);
      [redis, dovecot] = await Promise.all([
        startRedis(),
        TestDovecot.start({ users: { ...makeUsers('fold', fp.accounts), ...makeUsers('ffloor', fp.floorAccounts), ...makeUsers('fnfloor', fp.floorAccounts) }, extraConfig: `${BENCH_DOVECOT_CONFIG}\nlmtp_save_to_detail_mailbox = yes\n` }),
      ]);
      stores = testStores(redis.url, ctx.secretKey);
      // The folders are made on disk (Maildir++ directories owned by the mail uid): 15,000 IMAP
      // CREATEs would take longer than the rest of the scenario. LIST sees them as made by CREATE.
      for (const user of [...users, ...notifyFloorUsers]) {
        const home = join(dovecot.dir, 'mail', USER_DOMAIN, user.split('@')[0]);
        for (const dir of [join(dovecot.dir, 'mail'), join(dovecot.dir, 'mail', USER_DOMAIN), home, join(home, 'Maildir')]) mkdirOwned(dir);
        for (const f of MADE_FOLDERS) {
          mkdirOwned(join(home, 'Maildir', `.${f}`));
          for (const sub of ['cur', 'new', 'tmp']) mkdirOwned(join(home, 'Maildir', `.${f}`, sub));
        }
      }
      const check = await dovecot.imap(users[0]);
      const listed = (await check.list()).filter((m) => !m.flags.has('\\Noselect')).length;
      await check.logout();
      if (listed !== FOLDERS_PER_ACCOUNT) throw new Error(`${users[0]} lists ${listed} folders, not ${FOLDERS_PER_ACCOUNT}`);

      // --- density: the same watcher build with no account, then with every account -------------
      gc = await GcProbe.start();
      log('folders: watcher with 0 accounts');
      const inspect0 = await GcProbe.inspectEnv();
      const w0 = await startApp('watcher', { INSTANCE_ID: 'bench-fw0', ...inspect0.env }, false);
      await sleep(ctx.quick ? 1000 : 3000);
      const m0 = await gc.measure(w0.pid, inspect0.port, w0.url, ctx.quick ? 8000 : 20_000);
      await stopApp(w0);

      const ids: string[] = new Array(users.length);
      await eachLimited(users, 32, async (user, i) => {
        const imap = dovecot!.imapSettings(user);
        ids[i] = (await stores!.accounts.create({ userId: USER_ID, email: user, imap, smtp: { ...imap, port: 25 }, mailboxes: ['*'] })).id;
      });
      const latencyIds = ids.slice(0, fp.latencyAccounts);
      const inspect = await GcProbe.inspectEnv();
      const t0 = now();
      let watcher = await startApp('watcher', { INSTANCE_ID: 'bench-fw1', ...inspect.env }, false);
      const connected = await waitAllConnected(stores, ids, ctx.quick ? 30_000 : 180_000, 250);
      if (connected.at === undefined) throw new Error(`not all accounts connected: ${JSON.stringify(connected.counts)}`);
      log(`folders: ${ids.length} accounts connected in ${round1((now() - t0) / 1000)} s`);
      // Connected is set before the folder list and NOTIFY SET: let every session finish them.
      await sleep(ctx.quick ? 2000 : 5000);
      const m1 = await gc.measure(watcher.pid, inspect.port, watcher.url, ctx.quick ? 8000 : 30_000);
      const rssPerAccount = (m1.rss - m0.rss) / ids.length;
      const rssPerAccountBeforeGc = (m1.rssBeforeGc - m0.rssBeforeGc) / ids.length;
      // The JS heap's share of it: tells what the watcher's objects hold from sockets, TLS and allocator slack.
      const heapPerAccount = (m1.heap - m0.heap) / ids.length;

      // Before the fetcher and floor clients open sessions of their own: the watcher's only.
      const sessions = await imapSessionsByUser(dovecot);
      const perAccount = users.map((u) => sessions.get(u) ?? 0);
      const notOne = perAccount.filter((n) => n !== 1).length;

      // --- latency with NOTIFY: INBOX and Rules of the same accounts, and the floor ---------------
      const [, gateway] = await Promise.all([startApp('fetcher', { INSTANCE_ID: 'bench-ff1' }), startApp('gateway', { INSTANCE_ID: 'bench-fg1' })]);
      socket = io(gateway.url, { transports: ['websocket'], auth: { token: clientToken(ctx.jwtSecret, USER_ID) }, forceNew: true });
      await new Promise<void>((res, rej) => {
        socket!.once('connect', () => res());
        socket!.once('connect_error', (e) => rej(e));
      });
      const received = new Map<string, number>();
      socket.on('message.new', (m: { subject?: string }) => {
        if (m.subject && !received.has(m.subject)) received.set(m.subject, now());
      });
      const ack = (await socket.timeout(30_000).emitWithAck('subscribe' as never, { accounts: latencyIds.map((accountId) => ({ accountId })) } as never)) as { ok: boolean };
      if (!ack.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);

      const exists = new Map<string, Array<{ count: number; at: number }>>();
      for (const user of floorUsers) {
        const client = bareClient(dovecot.imapPort, { user, pass: PASSWORD });
        await client.connect();
        client.on('exists', (d: { count: number }) => exists.get(user)!.push({ count: d.count, at: now() }));
        exists.set(user, []);
        await client.mailboxOpen('INBOX');
        void client.idle().catch(() => undefined);
        floorClients.push(client);
      }
      for (const user of notifyFloorUsers) notifyFloorClients.push(await BareNotifyClient.open(dovecot.imapPort, { user, pass: PASSWORD }));
      await sleep(1000);

      type Sent = { series: 'INBOX' | 'other' | 'floor' | 'notifyFloor' | 'sweep'; user: string; subject: string; ackAt?: number; error?: string };
      const deliver = async (item: Sent, to: string): Promise<Sent> => {
        try {
          await dovecot!.deliver(to, { subject: item.subject, text: item.subject });
          return { ...item, ackAt: now() };
        } catch (err) {
          return { ...item, error: (err as Error).message };
        }
      };
      const loadAtStart = round1(loadavg()[0]);
      log(`folders: ${fp.ratePerSeries}/s each into INBOX and ${OTHER} of ${latencyUsers.length} accounts, into the INBOX of ${floorUsers.length} IDLE floor accounts and ${OTHER} of ${notifyFloorUsers.length} NOTIFY floor accounts, ${fp.perSeries} each`);
      const step = 1000 / fp.ratePerSeries;
      const start = now() + 200;
      const sends: Array<Promise<Sent>> = [];
      for (let i = 0; i < fp.perSeries; i++) {
        const plan: Array<[number, Sent, string]> = [
          [0, { series: 'INBOX', user: latencyUsers[i % latencyUsers.length], subject: `folders inbox ${i}` }, latencyUsers[i % latencyUsers.length]],
          [step / 4, { series: 'other', user: latencyUsers[(i + 1) % latencyUsers.length], subject: `folders other ${i}` }, latencyUsers[(i + 1) % latencyUsers.length].replace('@', `+${OTHER}@`)],
          [step / 2, { series: 'floor', user: floorUsers[i % floorUsers.length], subject: `folders floor ${i}` }, floorUsers[i % floorUsers.length]],
          [(3 * step) / 4, { series: 'notifyFloor', user: notifyFloorUsers[i % notifyFloorUsers.length], subject: `folders notify floor ${i}` }, notifyFloorUsers[i % notifyFloorUsers.length].replace('@', `+${OTHER}@`)],
        ];
        for (const [offset, item, to] of plan) {
          await sleep(Math.max(0, start + i * step + offset - now()));
          sends.push(deliver(item, to));
        }
      }
      const sent = await Promise.all(sends);
      const lastAck = Math.max(...sent.map((s) => s.ackAt ?? 0));
      const pushed = sent.filter((s) => (s.series === 'INBOX' || s.series === 'other') && !s.error);
      while (now() < lastAck + 15_000 && pushed.some((s) => !received.has(s.subject))) await sleep(100);
      const loadAtEnd = round1(loadavg()[0]);
      const latencyOf = (series: Sent['series']) => sent.filter((s) => s.series === series && s.ackAt !== undefined && received.has(s.subject)).map((s) => received.get(s.subject)! - s.ackAt!);
      const inbox = summarize(latencyOf('INBOX'));
      const other = summarize(latencyOf('other'));
      // The floor: the k-th delivery to a floor user is seen by the first EXISTS counting k.
      const floorLatencies: number[] = [];
      for (const user of floorUsers) {
        const acks = sent.filter((s) => s.series === 'floor' && s.user === user && s.ackAt !== undefined).sort((a, b) => a.ackAt! - b.ackAt!);
        acks.forEach((s, k) => {
          const seen = exists.get(user)!.find((e) => e.count >= k + 1);
          if (seen) floorLatencies.push(seen.at - s.ackAt!);
        });
      }
      const floor = summarize(floorLatencies);
      // The NOTIFY floor: the k-th delivery into a floor user's Rules is seen by the first STATUS of Rules counting k.
      const notifyFloorLatencies: number[] = [];
      notifyFloorUsers.forEach((user, u) => {
        const acks = sent.filter((s) => s.series === 'notifyFloor' && s.user === user && s.ackAt !== undefined).sort((a, b) => a.ackAt! - b.ackAt!);
        acks.forEach((s, k) => {
          const seen = notifyFloorClients[u].statuses.find((e) => e.mailbox === OTHER && e.messages >= k + 1);
          if (seen) notifyFloorLatencies.push(seen.at - s.ackAt!);
        });
      });
      const notifyFloor = summarize(notifyFloorLatencies);
      const lostNotify = pushed.filter((s) => !received.has(s.subject)).length;
      const failedLmtp = sent.filter((s) => s.error).length;
      ctx.distributions['folders: INBOX → message.new'] = latencyOf('INBOX');
      ctx.distributions['folders: other folder → message.new (NOTIFY)'] = latencyOf('other');

      // --- without NOTIFY: the same Dovecot, no longer advertising it ---------------------------
      // The density accounts go (a 5 s sweep of 1,000 accounts × 18 folders is not what is timed
      // here); the latency accounts stay. Dovecot restarts advertising what it did less NOTIFY
      // (runs before 2026-12-06 kept NOTIFY and told the watcher to ignore it with the
      // IMAP_HOST_OVERRIDES flag DISABLE_NOTIFY: the same session code, but not the setup).
      await stopApp(watcher);
      await Promise.all(ids.slice(fp.latencyAccounts).map((id) => stores!.accounts.delete(id)));
      await Promise.all(floorClients.splice(0).map((c) => c.logout().catch(() => undefined)));
      await Promise.all(notifyFloorClients.splice(0).map((c) => c.logout()));
      const advertised = await capabilitiesOf(dovecot, latencyUsers[0]);
      if (!advertised.includes('NOTIFY')) throw new Error(`Dovecot does not advertise NOTIFY: ${advertised.join(' ')}`);
      await dovecot.restartWithCapability(advertised.filter((c) => c !== 'NOTIFY').join(' '));
      const advertisedNow = await capabilitiesOf(dovecot, latencyUsers[0]);
      if (advertisedNow.includes('NOTIFY')) throw new Error('Dovecot still advertises NOTIFY after the restart');
      log(`folders: Dovecot restarted without NOTIFY; watcher restarted with a ${fp.sweepMs} ms sweep for ${latencyIds.length} accounts`);
      watcher = await startApp('watcher', { INSTANCE_ID: 'bench-fw2', FOLDER_SWEEP_INTERVAL_MS: String(fp.sweepMs) });
      const reconnected = await waitAllConnected(stores, latencyIds, 60_000, 250);
      if (reconnected.at === undefined) throw new Error(`latency accounts did not reconnect: ${JSON.stringify(reconnected.counts)}`);
      // One whole sweep first: every session has listed its folders and taken its first STATUS.
      await sleep(fp.sweepMs + 2000);
      const windowMs = fp.sweepMs * 3;
      const sweepSent = await Promise.all(
        Array.from({ length: fp.sweepDeliveries }, async (_v, k) => {
          await sleep(Math.random() * windowMs);
          const user = latencyUsers[k % latencyUsers.length];
          return deliver({ series: 'sweep', user, subject: `folders sweep ${k}` }, user.replace('@', `+${OTHER}@`));
        }),
      );
      const sweepLastAck = Math.max(...sweepSent.map((s) => s.ackAt ?? 0));
      const sweepOk = sweepSent.filter((s) => !s.error);
      while (now() < sweepLastAck + fp.sweepMs + 5000 && sweepOk.some((s) => !received.has(s.subject))) await sleep(100);
      const sweepLatencies = sweepOk.filter((s) => received.has(s.subject)).map((s) => received.get(s.subject)! - s.ackAt!);
      const sweep = summarize(sweepLatencies);
      const lostSweep = sweepOk.length - sweepLatencies.length;
      ctx.distributions['folders: other folder → message.new (sweep)'] = sweepLatencies;

      const p = (s: Summary | null, k: 'p50' | 'p99') => s?.[k] ?? null;
      Object.assign(r.figures, {
        kbPerAccount: kb(rssPerAccount),
        kbPerAccountBeforeGc: kb(rssPerAccountBeforeGc),
        heapKbPerAccount: kb(heapPerAccount),
        accountsNotOneSession: notOne,
        floorP50: p(floor, 'p50'),
        floorP99: p(floor, 'p99'),
        notifyFloorP50: p(notifyFloor, 'p50'),
        notifyFloorP99: p(notifyFloor, 'p99'),
        inboxP50: p(inbox, 'p50'),
        inboxP99: p(inbox, 'p99'),
        otherP50: p(other, 'p50'),
        otherP99: p(other, 'p99'),
        sweepP50: p(sweep, 'p50'),
        sweepP99: p(sweep, 'p99'),
        lost: lostNotify + lostSweep,
      });
      const plus = (a: number | null, b: number | null) => (a === null || b === null ? null : round1(a - b));
      r.targets.push(
        judged(ctx, atMost(`watcher RSS per account at ${ids.length} accounts × ${FOLDERS_PER_ACCOUNT} folders`, kb(rssPerAccount), 60, 'KB')),
        atMost(`accounts without exactly one Dovecot IMAP session (of ${ids.length})`, notOne, 0, 'accounts', '0'),
        // The push-latency margins (p50 ≤ floor + 10 ms, p99 ≤ floor + 30 ms), the floor of this run.
        atMost(`NOTIFY: ${OTHER} → message.new, p50 above the floor`, plus(p(other, 'p50'), p(floor, 'p50')), 10, 'ms', '≤ floor + 10 ms'),
        atMost(`NOTIFY: ${OTHER} → message.new, p99 above the floor`, plus(p(other, 'p99'), p(floor, 'p99')), 30, 'ms', '≤ floor + 30 ms'),
        // Beside the judged rows, not replacing them: above what Dovecot gives a bare NOTIFY client for the same folder.
        { measure: `NOTIFY: ${OTHER} → message.new p50 / p99 above a bare NOTIFY client's STATUS for ${OTHER} (same seconds)`, value: plus(p(other, 'p50'), p(notifyFloor, 'p50')), unit: 'ms', target: `reported (p99: ${plus(p(other, 'p99'), p(notifyFloor, 'p99'))?.toFixed(0) ?? '—'} ms)`, met: null },
        { measure: `NOTIFY: ${OTHER} p50 / p99 − INBOX p50 / p99 (same accounts, same seconds)`, value: plus(p(other, 'p50'), p(inbox, 'p50')), unit: 'ms', target: `reported (p99: ${plus(p(other, 'p99'), p(inbox, 'p99'))?.toFixed(0) ?? '—'} ms)`, met: null },
        atMost(`no NOTIFY (sweep ${fp.sweepMs} ms): ${OTHER} p99 → message.new`, p(sweep, 'p99'), fp.sweepMs + 1000, 'ms', `≤ sweep + 1 s (${fp.sweepMs + 1000} ms)`),
        atMost('deliveries that never arrived as message.new', lostNotify + lostSweep + failedLmtp, 0, 'messages'),
      );
      const row = (name: string, s: Summary | null, floorP50: number | null): Array<string | number | null> => [
        name,
        s?.n ?? 0,
        s?.p50 ?? null,
        s?.p95 ?? null,
        s?.p99 ?? null,
        s?.max ?? null,
        s && floorP50 !== null ? round1(s.p50 - floorP50) : null,
      ];
      r.tables.push({
        title: `LMTP ack → seen (ms), ${fp.ratePerSeries}/s per series, same seconds; load average ${loadAtStart} → ${loadAtEnd}`,
        columns: ['series', 'n', 'p50', 'p95', 'p99', 'max', 'p50 above the floor'],
        rows: [
          row('floor: EXISTS at a bare imapflow IDLE client (INBOX)', floor, p(floor, 'p50')),
          row(`NOTIFY floor: STATUS of ${OTHER} at a bare NOTIFY client (INBOX selected)`, notifyFloor, p(floor, 'p50')),
          row('INBOX → message.new (NOTIFY session)', inbox, p(floor, 'p50')),
          row(`${OTHER} (user+${OTHER}) → message.new (NOTIFY)`, other, p(floor, 'p50')),
          row(`${OTHER} → message.new without NOTIFY (sweep ${fp.sweepMs} ms)`, sweep, p(floor, 'p50')),
        ],
      });
      r.tables.push({
        title: 'the watcher at rest with every account',
        columns: ['figure', 'value'],
        rows: [
          ['accounts × folders (watched by "*")', `${ids.length} × ${FOLDERS_PER_ACCOUNT} (${FOLDERS_PER_ACCOUNT - 2})`],
          ['all connected after', `${round1((connected.at - t0) / 1000)} s`],
          ['watcher RSS after GC, 0 → all accounts', `${mb(m0.rss)} → ${mb(m1.rss)} MB`],
          ['watcher RSS after GC per account', `${kb(rssPerAccount)} KB`],
          ['watcher RSS before GC per account', `${kb(rssPerAccountBeforeGc)} KB`],
          ['watcher JS heap in use after GC per account', `${kb(heapPerAccount)} KB`],
          ['Dovecot IMAP sessions per account (doveadm who): min / max', `${Math.min(...perAccount)} / ${Math.max(...perAccount)}`],
          ['deliveries lost (NOTIFY / sweep) / LMTP failures', `${lostNotify} / ${lostSweep} / ${failedLmtp}`],
        ],
      });
      r.notes.push(
        `One watcher, fetcher and gateway (built apps). ${ids.length} accounts with \`mailboxes: ["*"]\`, ${FOLDERS_PER_ACCOUNT} folders each (INBOX, Drafts, Sent, Trash, Junk and ${MADE_FOLDERS.length} more; "*" leaves out Trash and Junk). RSS per account: VmRSS after two forced full GCs with every account connected, less the same build with no account, divided by the accounts. Sessions: \`doveadm who\` before the fetcher or any other client logged in.`,
        `Latency: LMTP deliveries to \`user\` (INBOX) and \`user+${OTHER}\` (\`lmtp_save_to_detail_mailbox = yes\`, as a Sieve fileinto would file it) of ${latencyUsers.length} of those accounts, open loop at ${fp.ratePerSeries}/s each, with ${floorUsers.length} bare imapflow IDLE clients' INBOX deliveries (the floor) interleaved over the same seconds, and as many deliveries into ${OTHER} of ${notifyFloorUsers.length} accounts (same folders) whose bare clients (a raw socket: LOGIN, SELECT INBOX, pushmail's NOTIFY SET) stamp Dovecot's \`* STATUS ${OTHER}\`, the NOTIFY floor; from the LMTP acknowledgement to the message.new at one Socket.IO client (EXISTS, or that STATUS, for the floors). Targets, judged by us: mail in another folder is held to the margins above the floor that INBOX mail is held to in push-latency (p50 ≤ floor p50 + 10 ms, p99 ≤ floor p99 + 30 ms, floor of this run). The gap to INBOX mail of the same accounts is reported beside them, not judged: on a session with NOTIFY, Dovecot reports new mail in the selected INBOX sooner than a bare IDLE client sees it (INBOX p50 can sit below the floor), so INBOX is no fair zero point here. The NOTIFY floor (added after runs that missed the targets) is reported beside them, not judged: it tells how much of the gap is Dovecot's own delay for a folder that is not selected, and how much is pushmail's.`,
        `Without NOTIFY: the same Dovecot restarted with NOTIFY taken out of the capabilities it advertises after login (\`imap_capability\`: its own list less NOTIFY; until 2026-12-06 it kept NOTIFY and the watcher was told to ignore it through \`IMAP_HOST_OVERRIDES\` DISABLE_NOTIFY), and the watcher restarted with FOLDER_SWEEP_INTERVAL_MS=${fp.sweepMs} (the session then IDLEs on INBOX and sweeps the other folders), ${latencyUsers.length} accounts left (the rest deleted); ${fp.sweepDeliveries} deliveries into ${OTHER} at random moments of ${round1(windowMs / 1000)} s. A ${fp.sweepMs / 1000} s sweep (the default is 30 s) keeps the run short; judged against that sweep + 1 s.`,
      );
      log(
        `folders: RSS ${kb(rssPerAccount)} KB/account (heap ${kb(heapPerAccount)} KB), sessions min ${Math.min(...perAccount)} max ${Math.max(...perAccount)}; floor p50 ${p(floor, 'p50')}/p99 ${p(floor, 'p99')}, NOTIFY floor ${p(notifyFloor, 'p50')}/${p(notifyFloor, 'p99')}, INBOX ${p(inbox, 'p50')}/${p(inbox, 'p99')}, ${OTHER} ${p(other, 'p50')}/${p(other, 'p99')}, sweep ${p(sweep, 'p50')}/${p(sweep, 'p99')} ms; lost ${lostNotify + lostSweep}`,
      );
    });
  } finally {
    socket?.close();
    await Promise.all(floorClients.map((c) => c.logout().catch(() => undefined)));
    await Promise.all(notifyFloorClients.map((c) => c.logout()));
    await gc?.stop().catch(() => undefined);
    for (const a of apps) await a.stop().catch(() => undefined);
    await stores?.close().catch(() => undefined);
    await dovecot?.dispose().catch(() => undefined);
    await redis?.dispose().catch(() => undefined);
    run.done();
  }
}

/** What Dovecot advertises to `user` after login, as imapflow read it. */
async function capabilitiesOf(dovecot: TestDovecot, user: string): Promise<string[]> {
  const client = await dovecot.imap(user);
  const names = [...client.capabilities.keys()];
  await client.logout();
  return names;
}

function mkdirOwned(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, MAIL_UID, MAIL_UID);
}

/** Dovecot's IMAP sessions per user right now (doveadm who -1: one line per connection). */
async function imapSessionsByUser(dovecot: TestDovecot): Promise<Map<string, number>> {
  const { stdout } = await promisify(execFile)('doveadm', ['-c', dovecot.configPath, 'who', '-1'], { maxBuffer: 64 * 2 ** 20 });
  const counts = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const user = line.trim().split(/\s+/)[0];
    if (user && /\bimap\b/.test(line.trim().slice(user.length))) counts.set(user, (counts.get(user) ?? 0) + 1);
  }
  return counts;
}
