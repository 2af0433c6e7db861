import { notifySetAttributes, parseListName, parseStatusResponse } from './notify-command';
import { statusChanged } from './folder-sync';

const atom = (value: string) => ({ type: 'ATOM', value });

describe('NOTIFY on imapflow’s command layer', () => {
  it('asks for message events on the selected folder and every personal folder, and folder-list changes', () => {
    const flat = (a: unknown): string => (Array.isArray(a) ? `(${a.map(flat).join(' ')})` : (a as { value: string }).value);
    expect(notifySetAttributes().map(flat).join(' ')).toBe(
      'SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))',
    );
  });

  it('reads an unsolicited STATUS: the wire name and the numbers', () => {
    const untagged = { command: 'STATUS', attributes: [{ type: 'STRING', value: 'Entw&APw-rfe' }, [atom('MESSAGES'), atom('3'), atom('UIDNEXT'), atom('7'), atom('UIDVALIDITY'), atom('1700000000'), atom('HIGHESTMODSEQ'), atom('12345678901234567'), atom('UNSEEN'), atom('1')]] };
    expect(parseStatusResponse(untagged)).toEqual({ wireName: 'Entw&APw-rfe', status: { messages: 3, uidNext: 7, uidValidity: 1_700_000_000, highestModseq: '12345678901234567' } });
    expect(parseStatusResponse({ command: 'STATUS', attributes: [atom('X')] })).toBeUndefined();
    expect(parseStatusResponse({ command: 'STATUS' })).toBeUndefined();
  });

  it('reads the folder a MailboxName LIST names', () => {
    expect(parseListName({ command: 'LIST', attributes: [[], { type: 'STRING', value: '/' }, { type: 'STRING', value: 'Projects' }] })).toEqual({ name: 'Projects' });
    // As Dovecot 2.3 sends a rename.
    const renamed = { command: 'LIST', attributes: [[], { type: 'STRING', value: '/' }, atom('Projects2'), [{ type: 'STRING', value: 'OLDNAME' }, [atom('Projects')]]] };
    expect(parseListName(renamed)).toEqual({ name: 'Projects2', oldName: 'Projects' });
    expect(parseListName({ command: 'LIST', attributes: [] })).toBeUndefined();
  });

  it('tells a changed STATUS from a repeat', () => {
    const before = { messages: 3, uidNext: 7, uidValidity: 1, highestModseq: '10' };
    expect(statusChanged(undefined, before)).toBe(true);
    expect(statusChanged(before, { ...before })).toBe(false);
    expect(statusChanged(before, { ...before, highestModseq: '11' })).toBe(true);
    expect(statusChanged(before, { ...before, messages: 2 })).toBe(true);
    expect(statusChanged(before, { ...before, uidNext: 8 })).toBe(true);
    expect(statusChanged(before, { ...before, uidValidity: 2 })).toBe(true);
  });
});
