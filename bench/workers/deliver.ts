import { createTransport, Transporter } from 'nodemailer';
import { benchMessage } from '../lib/corpus';
import { Delivery } from '../lib/correlate';
import { now, sleep } from '../lib/clock';
import { lmtpRejection } from '../lib/lmtp';
import { serveWorker } from '../lib/worker';

/** One planned delivery: to `user` at epoch ms `at` (open loop: late acks never delay later sends). */
export interface PlannedDelivery {
  user: string;
  key: string;
  at?: number;
  size?: number;
}

let transport: Transporter | undefined;

/** Delivers like an MTA: LMTP over a small pool of persistent connections; the ack is Dovecot's 250. */
async function deliverOne(item: PlannedDelivery, seed: number): Promise<Delivery> {
  const { raw, messageId } = benchMessage(item.user, item.key, item.size ?? 3000, seed);
  const sentAt = now();
  try {
    const info = await transport!.sendMail({ envelope: { from: 'sender@bench.pushmail.test', to: [item.user] }, raw });
    const ackAt = now();
    // Acknowledged means the recipient's own 2xx after DATA, not a resolved sendMail.
    const rejected = lmtpRejection(info);
    return { user: item.user, key: item.key, messageId, sentAt, ackAt, ...(rejected ? { error: `LMTP: ${rejected}` } : {}) };
  } catch (err) {
    return { user: item.user, key: item.key, messageId, sentAt, ackAt: now(), error: (err as Error).message };
  }
}

serveWorker({
  init: ({ lmtpPort, connections = 4 }: { lmtpPort: number; connections?: number }) => {
    transport = createTransport({ host: '127.0.0.1', port: lmtpPort, lmtp: true, pool: true, maxConnections: connections, maxMessages: Infinity } as never);
    return true;
  },
  /** Sends each item at its `at`; resolves when every delivery was acknowledged or failed. */
  schedule: async ({ plan }: { plan: PlannedDelivery[] }) => {
    const results: Array<Promise<Delivery>> = [];
    let seed = 0;
    for (const item of plan) {
      const wait = (item.at ?? 0) - now();
      if (wait > 1) await sleep(wait);
      results.push(deliverOne(item, seed++));
    }
    return Promise.all(results);
  },
  /** As fast as the pool allows, `concurrency` in flight. */
  burst: async ({ plan, concurrency = 8 }: { plan: PlannedDelivery[]; concurrency?: number }) => {
    const results: Delivery[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < plan.length) {
          const i = next++;
          results[i] = await deliverOne(plan[i], i);
        }
      }),
    );
    return results;
  },
  close: () => {
    transport?.close();
    return true;
  },
});
