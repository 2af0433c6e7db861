import { Injectable } from '@nestjs/common';
import { ServerSettings } from '@pushmail/contracts';
import { MailNetworkSettings } from '@pushmail/net-policy';
import { Pop3Client, Pop3ConnectOptions } from './pop3-client';

/** What a POP3 connection needs from an account's stored settings (a password login: POP3 has no OAuth here). */
export type Pop3ServerSettings = Pick<ServerSettings, 'host' | 'port' | 'secure' | 'user' | 'tlsRejectUnauthorized'> & { pass: string };

export type Pop3ClientOptions = Pick<Pop3ConnectOptions, 'connectTimeoutMs' | 'idleTimeoutMs' | 'maxLineBytes'>;

/**
 * Opens logged-in POP3 sessions from stored account settings, under the same rules as
 * ImapClientFactory: the host is resolved and checked against the operator's policy right before
 * every connection and the checked IP is dialled (with the host name for SNI and certificate
 * checks), and STLS is required on ports that are not `secure` unless ALLOW_INSECURE_MAIL.
 */
@Injectable()
export class Pop3ClientFactory {
  constructor(private readonly network: MailNetworkSettings) {}

  /** Rejects with MailHostRefusedError when the host is not allowed, else with the connection's Pop3Error. */
  async connectionOptions(settings: Pop3ServerSettings): Promise<Pop3ConnectOptions> {
    const target = await this.network.policy.dialTarget(settings.host);
    return {
      host: target.address,
      port: settings.port,
      secure: settings.secure,
      ...(target.servername ? { servername: target.servername } : {}),
      rejectUnauthorized: settings.tlsRejectUnauthorized !== false,
      requireTls: !this.network.allowInsecure,
      user: settings.user,
      pass: settings.pass,
    };
  }

  async connect(settings: Pop3ServerSettings, options: Pop3ClientOptions = {}): Promise<Pop3Client> {
    return Pop3Client.connect({ connectTimeoutMs: 15_000, idleTimeoutMs: 60_000, ...options, ...(await this.connectionOptions(settings)) });
  }
}
