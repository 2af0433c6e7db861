import { ServerEvent } from '@pushmail/contracts';
import { testStores } from '@pushmail/testing';
import { now, sleep } from '../lib/clock';
import { serveWorker } from '../lib/worker';

/**
 * Appends `message.new` events straight to the event log (as the fetcher does), at a fixed rate,
 * for the gateway fan-out scenario. The append time travels in the subject, so each receiving
 * client can compute its own latency without a join.
 */
let stores: ReturnType<typeof testStores> | undefined;

serveWorker({
  init: ({ redisUrl, secretKey }: { redisUrl: string; secretKey: string }) => {
    stores = testStores(redisUrl, secretKey);
    return true;
  },
  run: async ({ accountIds, rate, durationMs }: { accountIds: string[]; rate: number; durationMs: number }) => {
    const total = Math.round((rate * durationMs) / 1000);
    const start = now() + 100;
    const pending: Array<Promise<unknown>> = [];
    let errors = 0;
    for (let i = 0; i < total; i++) {
      const at = start + (i * 1000) / rate;
      const wait = at - now();
      if (wait > 1) await sleep(wait);
      const accountId = accountIds[i % accountIds.length];
      const t0 = now();
      const uid = i + 1;
      pending.push(
        stores!.eventLog
          .append(
            accountId,
            ServerEvent.MessageNew,
            {
              accountId,
              mailbox: 'INBOX',
              uid,
              uidValidity: 1,
              messageId: `<fanout-${i}@bench.pushmail.test>`,
              subject: `t0=${t0}`,
              from: { name: 'Bench', address: 'sender@bench.pushmail.test' },
              to: [{ name: '', address: 'reader@bench.pushmail.test' }],
              cc: [],
              date: new Date().toISOString(),
              receivedAt: new Date().toISOString(),
              flags: [],
              size: 3000,
              preview: 'bench fan-out event',
              text: 'bench fan-out event',
              html: null,
              attachments: [],
            },
            { dedupeKey: `fanout:${i}`, ttlSeconds: 600, maxLen: 1000, seenAt: Date.now() },
          )
          .catch(() => {
            errors++;
          }),
      );
    }
    await Promise.all(pending);
    return { appended: total - errors, errors };
  },
  close: async () => {
    await stores?.close();
    return true;
  },
});
