import { MetricsService } from '@pushmail/observability';
import { FakeAccountSource, FakeImapClientFactory, testEnv } from '@pushmail/testing';
import type { MessageStructureObject } from 'imapflow';
import { fetcherEnvSchema } from '../config';
import { ImapConnectionPool } from '../imap/imap-connection.pool';
import { FetchSettings, MessageLimits, PoolSettings } from '../settings';
import { MessageFetcher, firstTextLeaf, uidSet, withoutSessionFlags } from './message-fetcher';

describe('message fetcher helpers', () => {
  it('sends consecutive UIDs as ranges', () => {
    expect(uidSet([5, 1, 2, 3, 9, 10, 3])).toBe('1:3,5,9:10');
    expect(uidSet([7])).toBe('7');
  });

  it('finds the first inline text part of a structure', () => {
    const structure: MessageStructureObject = {
      type: 'multipart/mixed',
      childNodes: [
        { part: '1', type: 'text/plain', disposition: 'attachment' },
        { part: '2', type: 'multipart/alternative', childNodes: [{ part: '2.1', type: 'text/html' }, { part: '2.2', type: 'text/plain' }] },
      ],
    };
    expect(firstTextLeaf(structure)?.part).toBe('2.2');
    expect(firstTextLeaf({ type: 'image/png' })).toBeUndefined();
  });

  it('drops the session-only \\Recent flag', () => {
    expect(withoutSessionFlags(new Set(['\\Recent', '\\Seen']))).toEqual(['\\Seen']);
  });

  it('warms up with its own fetch path against the in-process responder, opening no pooled connection', async () => {
    const env = fetcherEnvSchema.parse(testEnv('redis://127.0.0.1:6379'));
    const factory = new FakeImapClientFactory();
    const metrics = new MetricsService();
    const fetcher = new MessageFetcher(new ImapConnectionPool(new FakeAccountSource(), factory, metrics, PoolSettings.fromEnv(env)), metrics, FetchSettings.fromEnv(env), MessageLimits.fromEnv(env));
    // warmUp rejects when the canned session no longer yields the message (an imapflow change).
    await expect(fetcher.warmUp()).resolves.toBeUndefined();
    expect(factory.clients).toHaveLength(0);
  });
});
