import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { ServerSettings } from '@pushmail/contracts';
import { createHash } from 'node:crypto';
import { createTransport, Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';

export type ComposeOptions = ConstructorParameters<typeof MailComposer>[0];

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
  lastUsed: number;
}

/** Idle pools are closed after this long, so rarely-sending accounts hold no SMTP connection. */
const POOL_IDLE_MS = 5 * 60_000;

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

  compose(options: ComposeOptions): Promise<Buffer> {
    // No URL or file access: a client-supplied attachment must never make the server read a file or fetch a URL.
    return new MailComposer({ ...options, disableFileAccess: true, disableUrlAccess: true }).compile().build();
  }

  async send(poolKey: string, settings: ServerSettings, envelope: SmtpEnvelope, raw: Buffer): Promise<SmtpSendResult> {
    const info = (await this.transport(poolKey, settings).sendMail({ envelope: { from: envelope.from, to: envelope.to }, raw })) as {
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

  private transport(poolKey: string, settings: ServerSettings): Transporter {
    const fingerprint = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    let pooled = this.pools.get(poolKey);
    if (pooled && pooled.fingerprint !== fingerprint) {
      this.forget(poolKey);
      pooled = undefined;
    }
    if (!pooled) {
      const transporter = createTransport({
        pool: true,
        maxConnections: 2,
        maxMessages: 100,
        host: settings.host,
        port: settings.port,
        secure: settings.secure,
        auth: { user: settings.user, pass: settings.pass },
        tls: { rejectUnauthorized: settings.tlsRejectUnauthorized !== false },
        connectionTimeout: 15_000,
        greetingTimeout: 15_000,
        socketTimeout: 60_000,
        logger: false,
      });
      transporter.on('error', (err: Error) => this.logger.warn({ msg: 'smtp pool error', host: settings.host, err }));
      pooled = { transporter, fingerprint, lastUsed: Date.now() };
      this.pools.set(poolKey, pooled);
    }
    pooled.lastUsed = Date.now();
    return pooled.transporter;
  }
}
