import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { AccountProtocol, ServerSettings } from '@pushmail/contracts';
import { MailCredentials, MailLogin, oauthBearerResponse, xoauth2Response } from '@pushmail/credentials';
import { MailNetworkSettings, SmtpAuthUnavailableError } from '@pushmail/net-policy';
import { createHash } from 'node:crypto';
import { createTransport, Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';

export type ComposeOptions = ConstructorParameters<typeof MailComposer>[0];

/** Whose mail goes out: the pool and the OAuth token cache are the account's. */
export interface SmtpAccount {
  id: string;
  protocol: AccountProtocol;
}

export interface SmtpEnvelope {
  from: string;
  to: string[];
}

export interface SmtpSendResult {
  accepted: string[];
  rejected: string[];
  response: string;
}

interface PooledTransport {
  transporter: Transporter;
  fingerprint: string;
  createdAt: number;
  lastUsed: number;
}

/** Idle pools are closed after this long, so rarely-sending accounts hold no SMTP connection. */
const POOL_IDLE_MS = 5 * 60_000;
/** A pool dials the address checked when it was made; a busy one is remade now and then to follow DNS changes. */
const POOL_MAX_AGE_MS = 15 * 60_000;

/** Our own SASL step (see {@link authenticateOnlyIfOffered}); the name only has to be unique. */
const AUTH_METHOD = 'PUSHMAIL-AUTH';

/** The SMTP connection options one pool dials with, worked out right before it is made. */
export type SmtpConnectionOptions = Pick<SMTPConnection.Options, 'host' | 'port' | 'secure' | 'servername' | 'requireTLS' | 'tls'>;

/** What the SASL step needs of nodemailer's custom-auth context (narrow, so the step is testable alone). */
export interface SmtpSaslChannel {
  authMethods: string[];
  sendCommand(cmd: string): Promise<{ status: number }>;
}

/**
 * nodemailer sends without authenticating when the server offers no AUTH, which turns any
 * internal SMTP host a user names into an open relay through us. With `forceAuth` nodemailer
 * always runs this step; it refuses a server that advertised no AUTH before a credential is
 * sent, and otherwise performs PLAIN (preferred: the channel is TLS unless the operator allows
 * plain text) or LOGIN, the mechanisms every mail provider offers, or for OAuth accounts XOAUTH2
 * (Gmail, Microsoft 365 and most servers) or, where only it is offered, OAUTHBEARER (RFC 7628).
 * The credential is asked for here, at each login, so a pooled transport never presents an
 * access token that expired since the pool was made.
 */
export async function authenticateOnlyIfOffered(ctx: SmtpSaslChannel, credential: () => Promise<MailLogin>): Promise<void> {
  const offered = ctx.authMethods.map((m) => m.toUpperCase());
  if (!offered.length) throw new SmtpAuthUnavailableError();
  const refused = (status: number) => Object.assign(new Error('Invalid login'), { authenticationFailed: true, responseCode: status });
  const expect = async (cmd: string, status: number) => {
    const reply = await ctx.sendCommand(cmd);
    if (reply.status !== status) throw refused(reply.status);
  };
  const login = await credential();
  if ('accessToken' in login) {
    let reply: { status: number };
    if (offered.includes('XOAUTH2')) {
      reply = await ctx.sendCommand(`AUTH XOAUTH2 ${Buffer.from(xoauth2Response(login.user, login.accessToken), 'utf8').toString('base64')}`);
    } else if (offered.includes('OAUTHBEARER')) {
      reply = await ctx.sendCommand(`AUTH OAUTHBEARER ${Buffer.from(oauthBearerResponse(login.user, login.accessToken), 'utf8').toString('base64')}`);
    } else {
      throw new SmtpAuthUnavailableError();
    }
    if (reply.status === 235) return;
    // A refused token answers 334 with an error report and waits for the client before its 5xx:
    // an empty line for XOAUTH2, a lone ^A (RFC 7628 §3.2.3) for OAUTHBEARER.
    if (reply.status === 334) await ctx.sendCommand(offered.includes('XOAUTH2') ? '' : Buffer.from('\u0001').toString('base64'));
    throw refused(reply.status);
  }
  const { user, pass } = login;
  if (offered.includes('PLAIN')) {
    await expect(`AUTH PLAIN ${Buffer.from(`\u0000${user}\u0000${pass}`, 'utf8').toString('base64')}`, 235);
  } else if (offered.includes('LOGIN')) {
    await expect('AUTH LOGIN', 334);
    await expect(Buffer.from(user, 'utf8').toString('base64'), 334);
    await expect(Buffer.from(pass, 'utf8').toString('base64'), 235);
  } else {
    throw new SmtpAuthUnavailableError();
  }
}

/**
 * nodemailer behind one injectable: builds MIME once (the same bytes go to SMTP and to the Sent
 * mailbox) and keeps one small connection pool per account. TLS certificates are verified unless
 * the account itself opted out.
 */
@Injectable()
export class SmtpMailer implements OnModuleDestroy {
  private readonly logger = new Logger(SmtpMailer.name);
  private readonly pools = new Map<string, PooledTransport>();
  private readonly sweeper = setInterval(() => this.closeIdle(POOL_IDLE_MS), 60_000).unref();

  constructor(
    private readonly network: MailNetworkSettings,
    private readonly credentials: MailCredentials,
  ) {}

  /**
   * Resolves the host once and checks every address against the operator's policy
   * (MailHostRefusedError when refused); the pool then dials that IP and verifies TLS against
   * the host name. STARTTLS is required on ports that are not `secure` unless the operator
   * allows plain text: nodemailer then fails with ETLS before any credential is sent.
   */
  async connectionOptions(settings: ServerSettings): Promise<SmtpConnectionOptions> {
    const target = await this.network.policy.dialTarget(settings.host);
    return {
      host: target.address,
      port: settings.port,
      secure: settings.secure,
      ...(target.servername ? { servername: target.servername } : {}),
      requireTLS: !settings.secure && !this.network.allowInsecure,
      tls: { rejectUnauthorized: settings.tlsRejectUnauthorized !== false, ...(target.servername ? { servername: target.servername } : {}) },
    };
  }

  compose(options: ComposeOptions): Promise<Buffer> {
    // No URL or file access: a client-supplied attachment must never make the server read a file or fetch a URL.
    return new MailComposer({ ...options, disableFileAccess: true, disableUrlAccess: true }).compile().build();
  }

  /**
   * The account's id keys its pool and its shared OAuth token cache; its incoming protocol decides
   * what an OAuth grant asks for (see MailCredentials).
   */
  async send(account: SmtpAccount, settings: ServerSettings, envelope: SmtpEnvelope, raw: Buffer): Promise<SmtpSendResult> {
    const transporter = await this.transport(account, settings);
    const info = (await transporter.sendMail({ envelope: { from: envelope.from, to: envelope.to }, raw })) as {
      accepted?: Array<string | { address: string }>;
      rejected?: Array<string | { address: string }>;
      response?: string;
    };
    const addresses = (list: Array<string | { address: string }> = []) => list.map((a) => (typeof a === 'string' ? a : a.address));
    return { accepted: addresses(info.accepted), rejected: addresses(info.rejected), response: info.response ?? '' };
  }

  /** Drops an account's pool, e.g. after its settings changed or it was deleted. */
  forget(poolKey: string): void {
    const pooled = this.pools.get(poolKey);
    if (!pooled) return;
    this.pools.delete(poolKey);
    pooled.transporter.close();
  }

  closeIdle(maxIdleMs: number): void {
    const now = Date.now();
    for (const [key, pooled] of this.pools) if (now - pooled.lastUsed > maxIdleMs) this.forget(key);
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
    for (const key of [...this.pools.keys()]) this.forget(key);
  }

  private async transport(account: SmtpAccount, settings: ServerSettings): Promise<Transporter> {
    const poolKey = account.id;
    const fingerprint = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    let pooled = this.pools.get(poolKey);
    if (pooled && (pooled.fingerprint !== fingerprint || Date.now() - pooled.createdAt > POOL_MAX_AGE_MS)) {
      this.forget(poolKey);
      pooled = undefined;
    }
    if (!pooled) {
      const connection = await this.connectionOptions(settings);
      // Another send may have made the pool while this one resolved.
      pooled = this.pools.get(poolKey);
      if (pooled && pooled.fingerprint === fingerprint) {
        pooled.lastUsed = Date.now();
        return pooled.transporter;
      }
      const transporter = createTransport({
        pool: true,
        maxConnections: 2,
        maxMessages: 100,
        ...connection,
        auth: { type: 'custom', method: AUTH_METHOD, user: settings.user },
        customAuth: { [AUTH_METHOD]: (ctx) => authenticateOnlyIfOffered(ctx, () => this.credentials.login(poolKey, settings, account.protocol)) },
        forceAuth: true,
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 60_000,
        logger: false,
      });
      transporter.on('error', (err: Error) => this.logger.warn({ msg: 'smtp pool error', host: settings.host, err }));
      pooled = { transporter, fingerprint, createdAt: Date.now(), lastUsed: Date.now() };
      this.pools.set(poolKey, pooled);
    }
    pooled.lastUsed = Date.now();
    return pooled.transporter;
  }
}
