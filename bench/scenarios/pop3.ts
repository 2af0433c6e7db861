import { AppProcess, TestDovecot, TestRedis, testStores } from '@pushmail/testing';
import { readFileSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Socket, io } from 'socket.io-client';
import { waitAllConnected } from '../lib/accounts';
import { now, sleep } from '../lib/clock';
import { BENCH_DOVECOT_CONFIG, PASSWORD, appBuilt, appEnv, userName } from '../lib/infra';
import { clientToken } from '../lib/jwt';
import { kb, mb, steadyRss } from '../lib/rss';
import { ScenarioRun, atMost, judged } from '../lib/scenario';
import { round1, summarize } from '../lib/stats';
import { BenchContext, NotRun } from '../lib/types';
import { nextPollSlot } from '../../apps/watcher/src/pop3/pop3-poller';
import { appTuning } from './tuning';

/** The figures: 1,000 accounts at 60 s; a quick run keeps every step with small numbers. */
export const pop3Params = (quick: boolean) =>
  quick ? { accounts: 40, intervalS: 6, deliveries: 10, windowIntervals: 2 } : { accounts: 1000, intervalS: 60, deliveries: 100, windowIntervals: 2 };

/**
 * POP3 sessions are short (login, UIDL, QUIT), so Dovecot's POP3 processes are sized like its
 * IMAP ones in the bench config: long-lived login processes, enough pop3 processes for the
 * watcher's and the fetcher's sessions together.
 */
const POP3_DOVECOT_CONFIG = `
service pop3-login {
  service_count = 0
  client_limit = 5000
  process_min_avail = 4
}
service pop3 {
  process_limit = 500
}
`;

const USER_ID = 'bench-pop3';

/** Dovecot's log time stamps ("Dec 06 05:25:34") to the second, for logins per second. */
const LOGIN_LINE = /^(\w{3} +\d+ \d\d:\d\d:\d\d) pop3-login: Info: Login: /;

/**
 * POP3 accounts (issue 18): `accounts` accounts at a `intervalS` poll interval on one watcher,
 * with the fetcher and gateway as deployed. Figures: logins per second towards the server over
 * whole intervals in steady state (after every account's first poll) and the busiest second
 * against the mean, the watcher's RSS per account, and delivery (LMTP ack) → `message.new` at a
 * Socket.IO client for mail delivered at random moments to random accounts (expected: about half
 * the interval on average, never above interval + 2 s).
 */
export async function pop3Scenario(ctx: BenchContext): Promise<void> {
  const { log } = ctx;
  const pp = pop3Params(ctx.quick);
  const intervalMs = pp.intervalS * 1000;
  const run = new ScenarioRun(ctx, 'pop3', { ...pp });
  let redis: TestRedis | undefined;
  let dovecot: TestDovecot | undefined;
  let stores: ReturnType<typeof testStores> | undefined;
  const apps: AppProcess[] = [];
  let socket: Socket | undefined;
  try {
    await run.step('pop3', async (r) => {
      if (!appBuilt('watcher') || !appBuilt('fetcher') || !appBuilt('gateway')) throw new NotRun('dist/apps is not built');
      const users = Array.from({ length: pp.accounts }, (_v, i) => userName('pop', i));
      redis = await TestRedis.start({ appendonly: true, appendfsync: 'everysec' });
      dovecot = await TestDovecot.start({ users: Object.fromEntries(users.map((u) => [u, PASSWORD])), extraConfig: BENCH_DOVECOT_CONFIG + POP3_DOVECOT_CONFIG });
      stores = testStores(redis.url, ctx.secretKey);
      const env = appEnv(redis.url, ctx.secretKey, { AUTH_JWT_SECRET: ctx.jwtSecret });
      const [watcher, fetcher, gateway] = await Promise.all([
        AppProcess.start('watcher', { ...env, ...appTuning.watcher }),
        AppProcess.start('fetcher', { ...env, ...appTuning.fetcher }),
        AppProcess.start('gateway', { ...env, ...appTuning.gateway }),
      ]);
      apps.push(watcher, fetcher, gateway);
      const rssIdle = await steadyRss(watcher.pid);

      const t0 = now();
      const ids: string[] = [];
      for (const user of users) {
        const pop3 = { host: '127.0.0.1', port: dovecot.pop3Port, secure: false, user, pass: PASSWORD };
        ids.push((await stores.accounts.create({ userId: USER_ID, email: user, pop3, smtp: { ...pop3, port: 2525 }, mailboxes: ['INBOX'], pollIntervalSeconds: pp.intervalS })).id);
      }
      const connected = await waitAllConnected(stores, ids, 120_000 + pp.accounts * 100, 1000);
      if (connected.at === undefined) throw new Error(`not all accounts polled once: ${JSON.stringify(connected.counts)}`);
      log(`pop3: ${pp.accounts} accounts created and polled once in ${round1((now() - t0) / 1000)} s`);
      // One whole interval: every account's second poll happens on its steady schedule.
      await sleep(intervalMs);
      const rssLoaded = await steadyRss(watcher.pid);

      socket = io(gateway.url, { transports: ['websocket'], auth: { token: clientToken(ctx.jwtSecret, USER_ID) }, forceNew: true });
      await new Promise<void>((res, rej) => {
        socket!.once('connect', () => res());
        socket!.once('connect_error', (e) => rej(e));
      });
      const received = new Map<string, number>();
      socket.on('message.new', (m: { subject?: string }) => {
        if (m.subject && !received.has(m.subject)) received.set(m.subject, now());
      });
      // Every account could receive mail; one subscription batch per 500.
      for (let i = 0; i < ids.length; i += 500) {
        const ack = (await socket.timeout(60_000).emitWithAck('subscribe' as never, { accounts: ids.slice(i, i + 500).map((accountId) => ({ accountId })) } as never)) as { ok: boolean };
        if (!ack.ok) throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
      }

      // The measured window: whole intervals of logins, and deliveries at random moments in it.
      const logFrom = statSync(dovecot.logPath).size;
      const windowMs = intervalMs * pp.windowIntervals;
      const windowStart = now();
      const loadAtStart = round1(loadavg()[0]);
      const delivered = new Map<string, number>();
      /** Which account each delivery went to: its poll slot after the delivery splits the latency in two. */
      const deliveredTo = new Map<string, string>();
      const failures: string[] = [];
      const sends = Array.from({ length: pp.deliveries }, (_v, k) => k).map(async (k) => {
        await sleep(Math.random() * (windowMs - 1000));
        const index = Math.floor(Math.random() * users.length);
        const user = users[index];
        const subject = `pop3 bench ${k}`;
        try {
          await dovecot!.deliver(user, { subject, text: `delivery ${k}` });
          delivered.set(subject, now());
          deliveredTo.set(subject, ids[index]);
        } catch (err) {
          failures.push((err as Error).message);
        }
      });
      await Promise.all(sends);
      await sleep(Math.max(0, windowStart + windowMs - now()));
      const windowEnd = now();
      // Logins of the window only (read before waiting for the last deliveries).
      const loginLines = readFileSync(dovecot.logPath).subarray(logFrom).toString('utf8').split('\n').filter((line) => LOGIN_LINE.test(line));
      // The last deliveries get their interval plus a margin to arrive.
      const deadline = now() + intervalMs + 5000;
      while (now() < deadline && [...delivered.keys()].some((s) => !received.has(s))) await sleep(200);

      const latencies = [...delivered].flatMap(([subject, at]) => (received.has(subject) ? [received.get(subject)! - at] : []));
      const lost = delivered.size - latencies.length;
      // The watcher's schedule (the same function): the first poll slot after the LMTP ack picks
      // the message up; what follows it (tick, login, UIDL, job, fetcher login and RETR, parse,
      // append, fan-out) is the pipeline, the part that must stay under 2 s.
      const afterPoll = [...delivered].flatMap(([subject, at]) => (received.has(subject) ? [received.get(subject)! - nextPollSlot(deliveredTo.get(subject)!, intervalMs, at)] : []));
      const pipe = summarize(afterPoll);
      const logins = loginLines.map((line) => LOGIN_LINE.exec(line)![1]);
      const perSecond = new Map<string, number>();
      for (const second of logins) perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      // Who logged in how often: an account polled more than once an interval shows here.
      const perUser = new Map<string, number>();
      for (const line of loginLines) {
        const user = /user=<([^>]*)>/.exec(line)?.[1] ?? '?';
        perUser.set(user, (perUser.get(user) ?? 0) + 1);
      }
      const userCounts = [...perUser.values()].sort((a, b) => b - a);
      const failedPolls = new Map<string, number>();
      const failureDetails = new Set<string>();
      for (const line of watcher.logs().split('\n')) {
        if (!line.includes('pop3 poll failed') && !line.includes('pop3 login refused')) continue;
        const reason = /"reason":"([^"]+)"/.exec(line)?.[1] ?? (line.includes('login refused') ? 'auth_failed' : '?');
        failedPolls.set(reason, (failedPolls.get(reason) ?? 0) + 1);
        const detail = /"detail":"([^"]*)"/.exec(line)?.[1];
        if (detail && failureDetails.size < 3) failureDetails.add(`${reason}: ${detail}`);
      }
      const windowS = (windowEnd - windowStart) / 1000;
      // The same over 5-second bins: a second's bunching (a process that got no CPU for a moment
      // on a loaded machine, Dovecot's log included) against a burst that lasts.
      const secondsOf = (stamp: string) => Math.floor(Date.parse(`${new Date().getUTCFullYear()} ${stamp} UTC`) / 1000);
      const perFive = new Map<number, number>();
      for (const stamp of logins) perFive.set(Math.floor(secondsOf(stamp) / 5), (perFive.get(Math.floor(secondsOf(stamp) / 5)) ?? 0) + 1);
      const busiestFive = Math.max(0, ...perFive.values());
      const meanPerS = logins.length / windowS;
      const busiest = Math.max(0, ...perSecond.values());
      const burstRatio = meanPerS > 0 ? busiest / meanPerS : null;
      const rssPerAccount = (rssLoaded.bytes - rssIdle.bytes) / pp.accounts;
      const lat = summarize(latencies);
      const boundMs = intervalMs + 2000;
      ctx.distributions['pop3 delivery → message.new'] = latencies;

      Object.assign(r.figures, {
        pop3LoginsPerSecondMean: round1(meanPerS),
        pop3LoginsBusiestSecond: busiest,
        pop3LoginBurstRatio: burstRatio === null ? null : round1(burstRatio),
        pop3LoginBurstRatio5s: meanPerS > 0 ? round1(busiestFive / (5 * meanPerS)) : null,
        pop3WatcherRssPerAccountKb: round1(rssPerAccount / 1024),
        pop3LatencyMeanMs: lat ? Math.round(lat.mean) : null,
        pop3LatencyP50Ms: lat?.p50 ?? null,
        pop3LatencyP95Ms: lat?.p95 ?? null,
        pop3LatencyMaxMs: lat?.max ?? null,
        pop3PollToMessageP50Ms: pipe?.p50 ?? null,
        pop3PollToMessageMaxMs: pipe?.max ?? null,
        pop3Lost: lost,
        pop3FailedPolls: [...failedPolls.values()].reduce((a, b) => a + b, 0),
      });
      r.targets.push(
        judged(ctx, atMost('busiest second of POP3 logins ÷ mean logins per second', burstRatio === null ? null : round1(burstRatio), 2, '×')),
        judged(ctx, atMost('delivery → message.new, slowest', lat?.max, boundMs, 'ms', `≤ interval + 2 s (${boundMs} ms)`)),
        { measure: 'delivery → message.new, mean (expected about half the interval)', value: lat ? Math.round(lat.mean) : null, unit: 'ms', target: `reported (half the interval: ${intervalMs / 2} ms)`, met: null },
        atMost('deliveries that never arrived as message.new', lost + failures.length, 0, 'messages'),
        { measure: 'watcher RSS per POP3 account', value: round1(rssPerAccount / 1024), unit: 'KB', target: 'reported', met: null },
      );
      r.tables.push({
        title: `${pp.accounts} POP3 accounts polled every ${pp.intervalS} s by one watcher`,
        columns: ['figure', 'value'],
        rows: [
          ['logins towards the server, mean per second (watcher polls + fetcher RETR sessions)', round1(meanPerS)],
          ['expected from the interval alone (accounts ÷ interval)', round1(pp.accounts / pp.intervalS)],
          ['busiest second', busiest],
          ['seconds with at least one login', perSecond.size],
          ['busiest 5 seconds ÷ (5 × mean)', round1(busiestFive / (5 * meanPerS || 1))],
          ['load average (1 min) at the start and end of the window', `${loadAtStart} → ${round1(loadavg()[0])}`],
          ['accounts that logged in / most logins of one account in the window', `${perUser.size} / ${userCounts[0] ?? 0}`],
          ['failed polls logged by the watcher (by reason), whole run', [...failedPolls].map(([k, v]) => `${k} ${v}`).join(', ') || 'none'],
          ['watcher RSS idle → with the accounts (MB)', `${mb(rssIdle.bytes)} → ${mb(rssLoaded.bytes)}`],
          ['watcher RSS per account (KB)', kb(rssPerAccount)],
          [`delivery → message.new (ms): n, mean, p50, p95, max`, lat ? `${lat.n}, ${Math.round(lat.mean)}, ${lat.p50}, ${lat.p95}, ${lat.max}` : 'none'],
          [`of which after the account's poll slot (ms): p50, p95, max`, pipe ? `${pipe.p50}, ${pipe.p95}, ${pipe.max}` : 'none'],
          ['delivered but not seen as message.new / LMTP failures', `${lost} / ${failures.length}`],
        ],
      });
      r.notes.push(
        `One watcher, fetcher and gateway (built apps, default settings) against one Dovecot (POP3 login processes shared, as its IMAP ones are in the bench config). Accounts were created through the account store at once, all on one POP3 host (so the per-host login cap, LOGIN_CONCURRENCY_PER_HOST, applies to all of them), and polled once; figures start one interval later. Logins are Dovecot's "pop3-login: Login" log lines over ${pp.windowIntervals} whole intervals (${round1(windowS)} s), binned by second; they include the fetcher's sessions that read new mail. ${pp.deliveries} messages were delivered over LMTP at random moments of that window to random accounts; latency is the LMTP acknowledgement to the message.new at one Socket.IO client subscribed to every account.`,
      );
      r.notes.push(`Logins per second over the window, in order: ${[...perSecond.values()].join(' ')}.`);
      if (failureDetails.size) r.notes.push(`Failed polls, first kinds seen: ${[...failureDetails].join('; ')}.`);
      log(
        `pop3: logins ${round1(meanPerS)}/s (busiest second ${busiest}, ×${burstRatio === null ? '-' : round1(burstRatio)}), RSS ${kb(rssPerAccount)} KB/account, latency mean ${lat ? Math.round(lat.mean) : '-'} ms max ${lat?.max ?? '-'} ms, lost ${lost}`,
      );
    });
  } finally {
    socket?.close();
    for (const a of apps) await a.stop().catch(() => undefined);
    await stores?.close().catch(() => undefined);
    await dovecot?.dispose().catch(() => undefined);
    await redis?.dispose().catch(() => undefined);
    run.done();
  }
}
