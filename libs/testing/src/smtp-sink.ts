import { SMTPServer, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  user?: string;
}

export interface SmtpSinkOptions {
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
  /**
   * Decide the reply to DATA: return an SMTP error to answer with it (e.g. 550 or 451), or
   * undefined to accept. Called with the mail as received.
   */
  respond?: (mail: ReceivedMail, attempt: number) => { code: number; message: string } | undefined;
  /**
   * Also accept XOAUTH2, checking each access token here (e.g. TestOAuthServer.introspect): it must
   * be active and name the user that logs in.
   */
  introspect?: (token: string) => Promise<{ active: boolean; username?: string }>;
}

/** An SMTP server that records what it receives, optionally failing on demand. */
export class SmtpSink {
  readonly received: ReceivedMail[] = [];
  attempts = 0;
  authAttempts = 0;

  private constructor(
    private readonly server: SMTPServer,
    readonly port: number,
  ) {}

  static async start(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
    const ref: { sink?: SmtpSink } = {};
    const server = new SMTPServer({
      authOptional: !options.auth && !options.introspect,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: options.introspect ? ['PLAIN', 'LOGIN', 'XOAUTH2'] : ['PLAIN', 'LOGIN'],
      logger: false,
      // stop() would otherwise wait up to 30 s for a client's pooled connection (the gateway keeps them) to leave.
      closeTimeout: 500,
      onAuth(auth, _session, callback) {
        ref.sink!.authAttempts++;
        if (auth.method === 'XOAUTH2') {
          if (!options.introspect) return callback(new Error('XOAUTH2 not enabled'));
          void options.introspect(auth.accessToken ?? '').then(
            (r) => (r.active && r.username === auth.username ? callback(null, { user: auth.username }) : callback(null, { data: { status: '401', schemes: 'bearer' } })),
            (err: Error) => callback(err),
          );
          return;
        }
        if (!options.auth || (auth.username === options.auth.user && auth.password === options.auth.pass)) return callback(null, { user: auth.username });
        callback(new Error('Invalid username or password'));
      },
      onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const mail: ReceivedMail = {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
            user: session.user as string | undefined,
          };
          ref.sink!.attempts++;
          const reply = options.respond?.(mail, ref.sink!.attempts);
          if (reply) {
            const err = new Error(reply.message) as Error & { responseCode: number };
            err.responseCode = reply.code;
            return callback(err);
          }
          ref.sink!.received.push(mail);
          callback();
        });
      },
    });
    // Port 0: the kernel picks a port and binds it in one step, so no other process can take it in between.
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port));
    });
    server.on('error', () => undefined);
    const sink = new SmtpSink(server, port);
    ref.sink = sink;
    return sink;
  }

  settings(user = 'sender', pass = 'secret') {
    return { host: '127.0.0.1', port: this.port, secure: false, user, pass };
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
