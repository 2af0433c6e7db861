import { warningsByMessage } from './ten-k';

describe('ten-k: the watchers’ warnings by message', () => {
  it('counts warnings and errors by message (and reason or why), most frequent first, and skips the rest', () => {
    const w1 = [
      JSON.stringify({ level: 'warn', msg: 'imap session lost; reconnecting', reason: 'timeout' }),
      JSON.stringify({ level: 'info', msg: 'account acquired' }),
      JSON.stringify({ level: 'warn', msg: 'imap session lost; reconnecting', reason: 'timeout' }),
      'not json',
      '{"level":"warn","msg":"cut',
    ].join('\n');
    const w2 = [JSON.stringify({ level: 'error', msg: 'heartbeat failed' }), JSON.stringify({ level: 'warn', msg: 'lease lost; closing sessions', why: 'lease taken over' }), JSON.stringify({ level: 'warn', msg: 'imap session lost; reconnecting', reason: 'closed' })].join('\n');
    expect(warningsByMessage([w1, w2])).toEqual([
      ['imap session lost; reconnecting (timeout)', 2],
      ['heartbeat failed', 1],
      ['lease lost; closing sessions (lease taken over)', 1],
      ['imap session lost; reconnecting (closed)', 1],
    ]);
  });
});
