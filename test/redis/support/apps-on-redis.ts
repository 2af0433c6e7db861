import { signClientToken } from '@pushmail/auth';
import { PushmailClient } from '@pushmail/client';
import { MessageNewEvent, ServerEvent } from '@pushmail/contracts';
import { AppName, AppProcess, SmtpSink, TestDovecot, TestRedisCluster, TestRedisSentinel, testEnv, testStores, waitFor } from '@pushmail/testing';

/**
 * The stack the Sentinel and Cluster end-to-end tests share: accounts stored for their Dovecot
 * users, the built watcher, fetcher and two gateways on the given Redis topology, and one
 * PushmailClient on the first gateway subscribed to every account, recording each message.new.
 */
export interface AppsOnRedis {
  accountOf: Map<string, string>;
  procs: AppProcess[];
  client: PushmailClient;
  /** message.new the application saw, by Message-ID. */
  received: Map<string, Array<{ eventId: string; at: number }>>;
}

/**
 * App environments for a topology (read when an app starts: the topology is up by then): quick
 * reconnects for the watcher, a short drain for gateways.
 */
export function appEnvFor(redisEnv: () => Record<string, string | undefined>, label: string, procs: AppProcess[]) {
  return (app: AppName) => {
    const common = testEnv('redis://unused', { ...redisEnv(), INSTANCE_ID: `${app}-${label}-${procs.length}` });
    if (app === 'watcher') return { ...common, RECONCILE_INTERVAL_MS: '1000', BACKOFF_MIN_MS: '100', BACKOFF_MAX_MS: '1000' };
    if (app === 'gateway') return { ...common, SHUTDOWN_DRAIN_MS: '200' };
    return common;
  };
}

/** Distinct warning and error messages of the apps, with counts: what went wrong, when something did. */
export function appWarnings(procs: AppProcess[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const p of procs) {
    for (const line of p.logs().split('\n')) {
      const m = /"level":"(warn|error|fatal)".*?"msg":"([^"]*)"/.exec(line);
      if (m) counts[`${p.app} ${m[1]}: ${m[2]}`] = (counts[`${p.app} ${m[1]}: ${m[2]}`] ?? 0) + 1;
    }
  }
  return counts;
}

export async function startAppsOnRedis(options: {
  redis: TestRedisSentinel | TestRedisCluster;
  envFor: (app: AppName) => Record<string, string | undefined>;
  dovecot: TestDovecot;
  sink: SmtpSink;
  users: string[];
  userId: string;
  /** Filled as the apps start, so that the caller's envFor and teardown see them. */
  procs: AppProcess[];
}): Promise<AppsOnRedis> {
  const { redis, dovecot, sink, users, userId, procs } = options;
  const accountOf = new Map<string, string>();
  const received = new Map<string, Array<{ eventId: string; at: number }>>();
  const stores = testStores(redis);
  try {
    for (const user of users) {
      const view = await stores.accounts.create({ userId, email: user, imap: dovecot.imapSettings(user), smtp: sink.settings(), mailboxes: ['INBOX'] });
      accountOf.set(user, view.id);
    }
  } finally {
    await stores.close();
  }
  // Two gateways: the Socket.IO adapter carries one's notices to the other's clients.
  for (const app of ['watcher', 'fetcher', 'gateway', 'gateway'] as const) procs.push(await AppProcess.start(app, options.envFor(app)));
  const secret = testEnv('redis://unused').AUTH_JWT_SECRET!;
  const client = new PushmailClient({
    url: procs[2].url,
    token: () => signClientToken(userId, secret, { expiresInSeconds: 3600 }),
    offlineAfterAttempts: 1_000,
    socketOptions: { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 1000 },
  });
  client.on(ServerEvent.MessageNew, (m: MessageNewEvent) => {
    const key = m.messageId ?? '';
    received.set(key, [...(received.get(key) ?? []), { eventId: m.eventId, at: Date.now() }]);
  });
  await client.connect();
  for (const id of accountOf.values()) await client.subscribe(id, { since: 'start' });
  const states = testStores(redis);
  try {
    await waitFor(async () => (await Promise.all([...accountOf.values()].map((id) => states.accounts.getState(id)))).every((s) => s?.state === 'connected'), 30_000, 'every account to be watched', 200);
  } finally {
    await states.close();
  }
  return { accountOf, procs, client, received };
}
