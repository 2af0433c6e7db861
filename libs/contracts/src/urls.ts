/**
 * The gateway's URL for one MIME part of a message. The fetcher rewrites `cid:` images to it, and
 * clients download attachments from it (with the client token as bearer or `access_token` query).
 */
export function partPath(accountId: string, mailbox: string, uid: number, partId: string): string {
  return `/api/accounts/${encodeURIComponent(accountId)}/messages/${encodeURIComponent(mailbox)}/${uid}/parts/${encodeURIComponent(partId)}`;
}
