import { ImapFlow } from 'imapflow';
import { slimFolderCache } from './folder-cache';

/** imapflow's LIST cache of a client (an untyped internal), read back the way the module checks it. */
function cacheOf(client: ImapFlow): Map<string, unknown> {
  const cache: unknown = Reflect.get(client, 'folders');
  if (!(cache instanceof Map)) throw new Error('this imapflow has no folders cache');
  return cache;
}

const listed = (path: string, extra: object = {}) => ({
  path,
  pathAsListed: path,
  name: path,
  delimiter: '.',
  parent: [],
  parentPath: '',
  flags: new Set(['\\HasNoChildren']),
  listed: true,
  subscribed: true,
  status: { path, messages: 3, uidNext: 4, uidValidity: 5n, highestModseq: 6n },
  ...extra,
});

describe('slimFolderCache', () => {
  it('keeps, for the folders named, only what imapflow’s SELECT reads, keyed by the caller’s string, entries alike shared', () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: 1, auth: { user: 'u', pass: 'p' }, logger: false });
    const cache = cacheOf(client);
    for (const f of [listed('INBOX'), listed('Rules'), listed('Sent', { specialUse: '\\Sent' }), listed('Junk', { specialUse: '\\Junk' })]) cache.set(f.path, f);
    const names = new Map([['INBOX', 'INBOX'], ['Rules', 'Rules'], ['Sent', 'Sent']]);
    slimFolderCache(client, (path) => names.get(path));
    expect([...cache.keys()]).toEqual(['INBOX', 'Rules', 'Sent']);
    expect(cache.get('Rules')).toEqual({ delimiter: '.', subscribed: true, listed: true });
    expect(cache.get('Sent')).toEqual({ delimiter: '.', specialUse: '\\Sent', subscribed: true, listed: true });
    expect(cache.get('INBOX')).toBe(cache.get('Rules'));
  });

  it('leaves a client without that cache alone', () => {
    const client = new ImapFlow({ host: '127.0.0.1', port: 1, auth: { user: 'u', pass: 'p' }, logger: false });
    Reflect.deleteProperty(client, 'folders');
    expect(() => slimFolderCache(client, (path) => path)).not.toThrow();
  });
});
