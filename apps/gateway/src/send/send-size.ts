import { MessageSendRequest } from '@pushmail/contracts';

/** Decoded size of base64 text without allocating the bytes. */
export function base64DecodedLength(base64: string): number {
  const clean = base64.replace(/\s+/g, '');
  const padding = clean.endsWith('==') ? 2 : clean.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((clean.length * 3) / 4) - padding);
}

/** What the limit counts: the bodies, the subject and the attachments' decoded bytes. */
export function sendRequestSize(req: MessageSendRequest): number {
  let size = Buffer.byteLength(req.subject) + Buffer.byteLength(req.text ?? '') + Buffer.byteLength(req.html ?? '');
  for (const a of req.attachments ?? []) size += base64DecodedLength(a.content) + Buffer.byteLength(a.filename);
  return size;
}
