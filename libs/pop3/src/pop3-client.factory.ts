import { Injectable } from '@nestjs/common';
import { Pop3Settings } from '@pushmail/contracts';
import { MailCredentials } from '@pushmail/credentials';
import { MailNetworkSettings } from '@pushmail/net-policy';
import { Pop3Client, Pop3ConnectOptions, Pop3Error } from './pop3-client';

/** What a POP3 connection needs from an account's stored settings: a password or an `oauth2` credential. */
export type Pop3ServerSettings = Pick<Pop3Settings, 'host' | 'port' | 'secure' | 'user' | 'pass' | 'oauth2' | 'tlsRejectUnauthorized'>;

export type Pop3ClientOptions = Pick<Pop3ConnectOptions, 'connectTimeoutMs' | 'idleTimeoutMs' | 'maxLineBytes'>;

/**
 * Opens logged-in POP3 sessions from stored account settings, under the same rules as
 * ImapClientFactory: the host is resolved and checked against the operator's policy right before
 * every connection and the checked IP is dialled (with the host name for SNI and certificate
 * checks), and STLS is required on ports that are not `secure` unless ALLOW_INSECURE_MAIL. The
 * credential comes from {@link MailCredentials} at each connection: the password, or a fresh
 * OAuth access token (shared token cache, one refresh per expiry across the fleet), presented
 * with SASL XOAUTH2 / OAUTHBEARER.
 */
@Injectable()
export class Pop3ClientFactory {
  constructor(
    private readonly network: MailNetworkSettings,
    private readonly credentials: MailCredentials,
  ) {}

  /**
   * `accountId` keys the account's shared OAuth token cache (required for `oauth2` settings).
   * Rejects with MailHostRefusedError when the host is not allowed, OAuthLoginError when no access
   * token can be had.
   */
  async connectionOptions(settings: Pop3ServerSettings, accountId?: string): Promise<Pop3ConnectOptions> {
    const target = await this.network.policy.dialTarget(settings.host);
    if (settings.oauth2 && !accountId) throw new Error('an OAuth login needs the account id');
    const login = await this.credentials.login(accountId ?? '', settings, 'pop3');
    return {
      host: target.address,
      port: settings.port,
      secure: settings.secure,
      ...(target.servername ? { servername: target.servername } : {}),
      rejectUnauthorized: settings.tlsRejectUnauthorized !== false,
      requireTls: !this.network.allowInsecure,
      ...('accessToken' in login ? { user: login.user, accessToken: login.accessToken } : { user: login.user, pass: login.pass }),
    };
  }

  /**
   * A logged-in session; rejects like {@link connectionOptions}, else with the connection's
   * Pop3Error. When the server refuses an access token we held for valid (expired or revoked
   * before we knew), the account's cached token is dropped and the login tried once more with a
   * fresh one, as the IMAP session does, before the refusal goes through (auth_failed).
   */
  async connect(settings: Pop3ServerSettings, options: Pop3ClientOptions = {}, accountId?: string): Promise<Pop3Client> {
    const connection = await this.connectionOptions(settings, accountId);
    const open = (c: Pop3ConnectOptions) => Pop3Client.connect({ connectTimeoutMs: 15_000, idleTimeoutMs: 60_000, ...options, ...c });
    try {
      return await open(connection);
    } catch (err) {
      if (!settings.oauth2 || connection.accessToken === undefined || !(err instanceof Pop3Error) || err.code !== 'EPOP3_AUTH') throw err;
      await this.credentials.refused(accountId ?? '', settings.oauth2, connection.accessToken, 'pop3');
      return open(await this.connectionOptions(settings, accountId));
    }
  }

  /**
   * The credential the next login of this account would present (refreshing an OAuth token when
   * due). Rejects (OAuthLoginError) when the grant was revoked or a pushed token lapsed.
   */
  async checkCredential(settings: Pop3ServerSettings, accountId: string): Promise<void> {
    await this.credentials.login(accountId, settings, 'pop3');
  }
}
