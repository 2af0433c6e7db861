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
parentPort?.postMessage({ ready: true } satisfies ParserThreadMessage);
