import type { FetchMessageObject, ListResponse, MessageStructureObject } from 'imapflow';
import { hasAttachment, toImapSearch, toMailboxInfo, toSummary } from './mailbox-commands.service';

describe('mailbox commands: IMAP answers to contract shapes', () => {
  it('maps a search query to imapflow terms, days at midnight UTC', () => {
    expect(toImapSearch({ text: 'a', from: 'b', to: 'c', subject: 'd', unseen: true, flagged: false, since: '2024-01-02', before: '2024-02-03' })).toEqual({
      text: 'a',
      from: 'b',
      to: 'c',
      subject: 'd',
      seen: false,
      flagged: false,
      since: new Date('2024-01-02T00:00:00Z'),
      before: new Date('2024-02-03T00:00:00Z'),
    });
    expect(toImapSearch({ unseen: false })).toEqual({ seen: true });
  });

  it('finds attachments in a structure, not inline images or text parts', () => {
    const leaf = (type: string, extra: Partial<MessageStructureObject> = {}): MessageStructureObject => ({ type, ...extra });
    expect(hasAttachment(leaf('text/plain'))).toBe(false);
    expect(hasAttachment({ type: 'multipart/mixed', childNodes: [leaf('text/plain'), leaf('application/pdf', { disposition: 'attachment' })] })).toBe(true);
    expect(hasAttachment({ type: 'multipart/related', childNodes: [leaf('text/html'), leaf('image/png', { disposition: 'inline', parameters: { name: 'logo.png' } })] })).toBe(false);
    expect(hasAttachment({ type: 'multipart/mixed', childNodes: [leaf('text/plain'), leaf('image/png', { parameters: { name: 'photo.png' } })] })).toBe(true);
  });

  it('summarizes a FETCH row in the formats of message.new', () => {
    const row = {
      seq: 1,
      uid: 7,
      flags: new Set(['\\Seen', '\\Recent']),
      size: 1234,
      envelope: {
        date: new Date('2024-01-05T10:00:00Z'),
        subject: 'Hello',
        messageId: '<m@x>',
        from: [{ name: 'Alice', address: 'alice@x' }],
        to: [{ address: 'bob@x' }],
        cc: [],
      },
    } as FetchMessageObject;
    expect(toSummary({ accountId: 'a1', mailbox: 'INBOX', uidValidity: 9 }, row)).toEqual({
      accountId: 'a1',
      mailbox: 'INBOX',
      uidValidity: 9,
      uid: 7,
      messageId: '<m@x>',
      subject: 'Hello',
      from: { name: 'Alice', address: 'alice@x' },
      to: [{ name: '', address: 'bob@x' }],
      cc: [],
      date: '2024-01-05T10:00:00.000Z',
      flags: ['\\Seen'],
      size: 1234,
      preview: '',
      hasAttachments: false,
    });
    expect(toSummary({ accountId: 'a1', mailbox: 'INBOX', uidValidity: 9 }, { seq: 2, uid: 8 } as FetchMessageObject)).toMatchObject({ subject: '', from: null, date: null, size: 0 });
  });

  it('keeps only RFC 6154 special uses and names the parent by path', () => {
    const box = (over: Partial<ListResponse>): ListResponse =>
      ({ path: 'Work/2024', pathAsListed: 'Work/2024', name: '2024', delimiter: '/', parent: ['Work'], parentPath: 'Work', flags: new Set(), listed: true, subscribed: true, ...over }) as ListResponse;
    expect(toMailboxInfo(box({ status: { path: 'Work/2024', messages: 3, unseen: 1, uidNext: 4, uidValidity: 99n } }))).toEqual({
      path: 'Work/2024',
      name: '2024',
      delimiter: '/',
      parent: 'Work',
      specialUse: null,
      subscribed: true,
      messages: 3,
      unseen: 1,
      uidNext: 4,
      uidValidity: 99,
    });
    expect(toMailboxInfo(box({ path: 'Trash', parentPath: '', specialUse: '\\Trash' }))).toMatchObject({ parent: null, specialUse: '\\Trash', messages: null });
    expect(toMailboxInfo(box({ specialUse: '\\Important' })).specialUse).toBeNull();
  });
});
