/**
 * Entry of a parser thread (bundled as its own file next to the fetcher's main.js). Parsing and
 * sanitizing are the fetcher's heaviest CPU work; on their own thread they run beside the main
 * thread's IMAP and Redis I/O instead of between it.
 */
import { parentPort } from 'node:worker_threads';
import { useByteBlobForParsing } from '@pushmail/mail-parse';
import { ParseReply, ParseRequest, ParserThreadMessage, runParseRequest, toParsedJson } from './parse-request';

// This thread only parses: postal-mime's part joins need not go through Node's native Blob.
useByteBlobForParsing();

function parseOne(message: { id: number; request: ParseRequest }): Promise<void> {
  return runParseRequest(message.request).then(
    (content) => {
      const { envelope } = message.request;
      const reply: ParseReply = envelope ? { id: message.id, ...toParsedJson(envelope, content) } : { id: message.id, content };
      parentPort!.postMessage(reply);
    },
    // parseMail never throws on bad mail; this is a bug or resource exhaustion, reported per message.
    (err: Error) => parentPort!.postMessage({ id: message.id, error: err?.stack ?? String(err) } satisfies ParseReply),
  );
}

// One message at a time, in arrival order: the pool's watchdog times the oldest unanswered message,
// which is then the one running. Interleaving them would gain nothing: parsing is CPU work on one thread.
let queue = Promise.resolve();
parentPort?.on('message', (message: { id: number; request: ParseRequest }) => {
  queue = queue.then(() => parseOne(message));
});
/**
 * A fresh thread parses this once before it says ready: V8 compiles the parser and the sanitizer
 * when they first run, which made the first message on each new thread about 6 ms slower than the
 * next (7 ms against 1 ms for a small multipart message, measured on this machine).
 */
const WARM_UP: ParseRequest = {
  raw: new TextEncoder().encode(
    [
      'From: pushmail <warm-up@pushmail.invalid>',
      'To: warm-up@pushmail.invalid',
      'Subject: =?UTF-8?Q?warm-up?=',
      'Message-ID: <warm-up@pushmail.invalid>',
      'Date: Thu, 01 Jan 2026 00:00:00 +0000',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'warm-up',
      '--b',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p style="color:red">warm <b>up</b> <a href="https://pushmail.invalid/">link</a><img src="cid:x"></p>',
      '--b--',
      '',
    ].join('\r\n'),
  ),
  part: { accountId: 'warm-up', mailbox: 'INBOX', uid: 1 },
  maxBodyChars: 10_000,
  envelope: { accountId: 'warm-up', mailbox: 'INBOX', uidValidity: 1, uid: 1, flags: [], size: 0, receivedAt: new Date(0).toISOString() },
};

// First in the queue, so messages sent meanwhile wait for it; ready even when it fails, as it only
// saves the first message some time.
queue = runParseRequest(WARM_UP)
  .then((content) => void toParsedJson(WARM_UP.envelope!, content))
  .catch(() => undefined)
  .finally(() => parentPort?.postMessage({ ready: true } satisfies ParserThreadMessage));
