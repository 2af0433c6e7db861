import { ImapFlow } from 'imapflow';
import { AddressInfo, Server, Socket, createServer } from 'node:net';
import type { ImapClientOptions } from './imap-client.factory';

/*
 * V8 compiles a function when it first runs, so a fresh process's first IMAP session pays for
 * compiling imapflow's tokenizer, compiler and command handlers. Measured on this machine against
 * the test Dovecot, in fresh Node processes: the first login took 15-25 ms and its SELECT and
 * FETCH 5 and 2.5 ms, later ones 3-5, 2 and 0.8 ms. After one session with the responder below,
 * the first real one took what later ones take. For the fetcher that is the first new message
 * after every start (a deploy, a restart, a new replica), otherwise 20-30 ms late.
 */

/** The one message the responder holds (UID 1 of INBOX). */
const WARM_UP_MESSAGE = 'From: pushmail <warm-up@pushmail.invalid>\r\nSubject: warm-up\r\nMessage-ID: <warm-up@pushmail.invalid>\r\n\r\nwarm-up\r\n';
const CAPABILITIES = 'IMAP4rev1 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS SPECIAL-USE';
/** A warm-up that takes longer than this is abandoned: it must never hold up a start. */
export const WARM_UP_TIMEOUT_MS = 5000;

/** Canned answers to what a fetch session sends; every other command is simply acknowledged. */
function answer(tag: string, command: string, args: string): string {
  switch (command) {
    case 'CAPABILITY':
      return `* CAPABILITY ${CAPABILITIES}\r\n${tag} OK done\r\n`;
    case 'LOGIN':
      return `${tag} OK [CAPABILITY ${CAPABILITIES}] logged in\r\n`;
    case 'ID':
      return `* ID ("name" "pushmail-warm-up")\r\n${tag} OK done\r\n`;
    case 'NAMESPACE':
      return `* NAMESPACE (("" "/")) NIL NIL\r\n${tag} OK done\r\n`;
    case 'LIST':
      return `* LIST (\\HasNoChildren) "/" INBOX\r\n${tag} OK done\r\n`;
    case 'SELECT':
    case 'EXAMINE':
      return (
        '* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] ok\r\n' +
        `* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] ok\r\n* OK [UIDNEXT 2] ok\r\n${tag} OK [READ-WRITE] selected\r\n`
      );
    case 'UID':
      if (!/^FETCH /i.test(args)) break;
      return (
        `* 1 FETCH (UID 1 FLAGS (\\Seen) INTERNALDATE "01-Jan-2026 00:00:00 +0000" RFC822.SIZE ${WARM_UP_MESSAGE.length} ` +
        `BODY[]<0> {${WARM_UP_MESSAGE.length}}\r\n${WARM_UP_MESSAGE})\r\n${tag} OK done\r\n`
      );
    case 'LOGOUT':
      return `* BYE bye\r\n${tag} OK done\r\n`;
  }
  return `${tag} OK done\r\n`;
}

/** Serves one session per connection, line by line (nothing a client sends it carries a literal). */
function respond(socket: Socket): void {
  socket.on('error', () => socket.destroy());
  socket.write(`* OK [CAPABILITY ${CAPABILITIES}] warm-up responder ready\r\n`);
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const [tag = '*', command = '', ...rest] = line.split(' ');
      socket.write(answer(tag, command.toUpperCase(), rest.join(' ')));
      if (command.toUpperCase() === 'LOGOUT') socket.end();
    }
  });
}

/**
 * Runs `work` on an imapflow client logged in to a responder on an ephemeral loopback port of this
 * process, with the caller's client options: `work` should send what the caller's first real
 * session will (a SELECT of INBOX and a UID FETCH of UID 1 find the one canned message). No mail
 * server is contacted and no credential is sent, so the operator's network policy has nothing to
 * check. Rejects when the session fails or takes longer than {@link WARM_UP_TIMEOUT_MS}; callers
 * treat that as a skipped warm-up, never as a failed start.
 */
export async function warmUpImapClient(options: ImapClientOptions, work: (client: ImapFlow) => Promise<void>): Promise<void> {
  const server: Server = createServer(respond);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const client = new ImapFlow({
    ...options,
    host: '127.0.0.1',
    port,
    secure: false,
    doSTARTTLS: false,
    // LOGIN, as a password login to a server without LOGINDISABLED is sent (login-round-trips.ts).
    auth: { user: 'warm-up', pass: 'warm-up', loginMethod: 'LOGIN' },
    logger: false,
  });
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await client.connect();
        await work(client);
        await client.logout();
      })(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`IMAP warm-up took longer than ${WARM_UP_TIMEOUT_MS} ms`)), WARM_UP_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    client.close();
    server.close();
  }
}
