/** Where a watcher stands in one mailbox: everything below uidNext has been enqueued; its next resync starts there. */
export interface MailboxCursor {
  uidValidity: number;
  uidNext: number;
  /** CONDSTORE HIGHESTMODSEQ up to which flag changes have been enqueued (decimal string: 63-bit). */
  highestModseq?: string;
  /**
   * UIDs known to exist, as an IMAP sequence set ("1:4,7"); kept only for servers without
   * QRESYNC, where expunges can only be found by comparing UID lists.
   */
  knownUids?: string;
  /**
   * UIDs last seen without \Seen, as a sequence set; kept only for servers without CONDSTORE, where
   * read state that changed while no session looked can only be found by comparing UID lists.
   */
  unseenUids?: string;
}
