import { ImapFlow } from 'imapflow';

export interface ImapUser {
  user: string;
  pass: string;
}

/** A bare imapflow client, as a load generator uses it: no logs, errors never thrown at the process. */
export function bareClient(port: number, { user, pass }: ImapUser, options: Record<string, unknown> = {}): ImapFlow {
  const client = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, logger: false, ...options } as never);
  client.on('error', () => undefined);
  return client;
}

/** Runs `task` over `items` with at most `limit` in flight (connect storms trip Dovecot's limits). */
export async function eachLimited<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await task(items[i], i);
      }
    }),
  );
}
