import { isWatched, watchedFolders } from './watched-folders';

const folder = (path: string, specialUse?: string, flags: string[] = []) => ({ path, flags: new Set(flags), ...(specialUse ? { specialUse } : {}) });
const LISTED = [
  folder('INBOX', '\\Inbox'),
  folder('Sent', '\\Sent'),
  folder('Junk', '\\Junk'),
  folder('Trash', '\\Trash'),
  folder('[Gmail]/All Mail', '\\All'),
  folder('[Gmail]', undefined, ['\\Noselect']),
  folder('Gone', undefined, ['\\NonExistent']),
  folder('Work/Projects'),
];

describe('watchedFolders', () => {
  it('"*" is every selectable folder except \\All, \\Junk and \\Trash', () => {
    expect(watchedFolders(['*'], LISTED)).toEqual(['INBOX', 'Sent', 'Work/Projects']);
  });

  it('names beside "*" add folders back', () => {
    expect(watchedFolders(['*', 'Junk', '[Gmail]/All Mail'], LISTED).sort()).toEqual(['INBOX', 'Junk', 'Sent', 'Work/Projects', '[Gmail]/All Mail'].sort());
  });

  it('named folders are watched as named, listed or not, INBOX in any case', () => {
    expect(watchedFolders(['inbox', 'Archive'], LISTED)).toEqual(['INBOX', 'Archive']);
  });

  it('isWatched answers per folder', () => {
    expect(isWatched(['*'], folder('Trash', '\\Trash'))).toBe(false);
    expect(isWatched(['*', 'Trash'], folder('Trash', '\\Trash'))).toBe(true);
    expect(isWatched(['INBOX'], folder('Sent', '\\Sent'))).toBe(false);
    expect(isWatched(['*'], folder('Sent', '\\Sent'))).toBe(true);
  });
});
