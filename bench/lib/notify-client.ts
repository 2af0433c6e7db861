import { Socket, connect } from 'node:net';
import { now } from './clock';
import { ImapUser } from './imap-clients';

/** One `* STATUS` line a bare NOTIFY client got: the folder, its MESSAGES count, when it arrived. */
export interface StatusSeen {
  mailbox: string;
  messages: number;
  at: number;
}

/**
 * A bare IMAP client on a raw socket that does what a NOTIFY watcher does and nothing more: LOGIN,
 * SELECT INBOX, then the same `NOTIFY SET` as pushmail's sessions (SELECTED and PERSONAL), and
 * stamps every `* STATUS` Dovecot sends for another folder. The floor of mail filed into a folder
 * other than the selected one: what the mail server itself gives a client for it. (imapflow has
 * no NOTIFY; a socket keeps the client's own cost at a line split.)
 */
export class BareNotifyClient {
  readonly statuses: StatusSeen[] = [];
  private buffered = '';
  private tag = 0;
  private readonly waiting = new Map<string, { resolve: () => void; reject: (err: Error) => void }>();

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk.toString('latin1')));
    socket.on('error', () => undefined);
  }

  static async open(port: number, { user, pass }: ImapUser): Promise<BareNotifyClient> {
    const socket = connect(port, '127.0.0.1');
    const client = new BareNotifyClient(socket);
    const greeted = new Promise<void>((resolve, reject) => client.waiting.set('*', { resolve, reject }));
    await greeted;
    await client.command(`LOGIN ${quote(user)} ${quote(pass)}`);
    await client.command('SELECT INBOX');
    await client.command('NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange)) (PERSONAL (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange))');
    return client;
  }

  async logout(): Promise<void> {
    await this.command('LOGOUT').catch(() => undefined);
    this.socket.destroy();
  }

  private command(text: string): Promise<void> {
    const tag = `n${++this.tag}`;
    const done = new Promise<void>((resolve, reject) => this.waiting.set(tag, { resolve, reject }));
    this.socket.write(`${tag} ${text}\r\n`);
    return done;
  }

  private onData(text: string): void {
    this.buffered += text;
    let nl: number;
    while ((nl = this.buffered.indexOf('\r\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 2);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const at = now();
    const status = /^\* STATUS ("(?:[^"\\]|\\.)*"|\S+) \((.*)\)$/i.exec(line);
    if (status) {
      // MESSAGES where the server sends it; otherwise UIDNEXT - 1 (the bench never expunges here).
      const messages = /\bMESSAGES (\d+)/i.exec(status[2]) ?? /\bUIDNEXT (\d+)/i.exec(status[2]);
      const count = messages ? Number(messages[1]) - (/^MESSAGES/i.test(messages[0]) ? 0 : 1) : undefined;
      const mailbox = status[1].startsWith('"') ? status[1].slice(1, -1).replace(/\\(.)/g, '$1') : status[1];
      if (count !== undefined) this.statuses.push({ mailbox, messages: count, at });
      return;
    }
    if (line.startsWith('* OK') && this.waiting.has('*')) {
      this.waiting.get('*')!.resolve();
      this.waiting.delete('*');
      return;
    }
    const tagged = /^(\S+) (OK|NO|BAD)\b/.exec(line);
    const waiter = tagged && this.waiting.get(tagged[1]);
    if (!tagged || !waiter) return;
    this.waiting.delete(tagged[1]);
    if (tagged[2] === 'OK') waiter.resolve();
    else waiter.reject(new Error(line));
  }
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
