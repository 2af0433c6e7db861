import { mailboxIndexDigest } from './mailbox-index';

describe('mailboxIndexDigest', () => {
  it('ignores the case and a trailing dot of the host, not the case of the user', () => {
    expect(mailboxIndexDigest('IMAP.Example.com.', 'alice')).toBe(mailboxIndexDigest('imap.example.com', 'alice'));
    expect(mailboxIndexDigest('imap.example.com', 'Alice')).not.toBe(mailboxIndexDigest('imap.example.com', 'alice'));
  });

  it('keeps host and user apart, and the user name out of the digest', () => {
    expect(mailboxIndexDigest('a.b', 'c')).not.toBe(mailboxIndexDigest('a', 'b.c'));
    expect(mailboxIndexDigest('imap.example.com', 'alice@example.com')).not.toContain('alice');
  });
});
