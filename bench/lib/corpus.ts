import { randomBytes } from 'node:crypto';

const WORDS = 'the quick brown fox jumps over lazy dog push mail arrives within milliseconds of delivery while polling clients wait minutes for their next check'.split(' ');

function prose(bytes: number, seed: number): string {
  let out = '';
  let i = seed;
  while (out.length < bytes) {
    out += WORDS[i % WORDS.length] + (i % 13 === 0 ? '.\r\n' : ' ');
    i = (i * 31 + 7) % 9973;
  }
  return out;
}

export interface BenchMessage {
  raw: string;
  messageId: string;
}

/**
 * A realistic small message (multipart/alternative, text + HTML, quoted-printable and base64 parts,
 * an encoded-word subject) of roughly `size` bytes. The Message-ID carries the bench's correlation
 * key, so a `message.new` can be matched to its delivery.
 */
export function benchMessage(to: string, key: string, size = 3000, seed = 0): BenchMessage {
  const messageId = `<${key}@bench.pushmail.test>`;
  const boundary = `b_${randomBytes(6).toString('hex')}`;
  const textBytes = Math.max(200, Math.floor(size * 0.3));
  const htmlBytes = Math.max(200, Math.floor(size * 0.35));
  const text = prose(textBytes, seed);
  const html = `<html><body><p>${prose(htmlBytes, seed + 1).replace(/\r\n/g, '</p><p>')}</p></body></html>`;
  const htmlB64 = Buffer.from(html).toString('base64').replace(/.{76}/g, '$&\r\n');
  const raw = [
    `From: "Bench Sender" <sender@bench.pushmail.test>`,
    `To: <${to}>`,
    `Subject: =?UTF-8?B?${Buffer.from(`Bench ✉ ${key}`).toString('base64')}?=`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: ${messageId}`,
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    text.replace(/=/g, '=3D'),
    `--${boundary}`,
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: base64',
    '',
    htmlB64,
    `--${boundary}--`,
    '',
  ].join('\r\n');
  return { raw, messageId };
}

/** Strips the angle brackets, so ids compare whether or not a parser kept them. */
export const bareMessageId = (id: string | null | undefined) => (id ?? '').replace(/^<|>$/g, '');
