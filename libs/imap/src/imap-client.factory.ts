import { Injectable, Logger } from '@nestjs/common';
import { ServerSettings } from '@pushmail/contracts';
import { MailCredentials } from '@pushmail/credentials';
import { MailNetworkSettings } from '@pushmail/net-policy';
import { ImapFlow, ImapFlowOptions } from 'imapflow';
import { ImapLoginSettings } from './imap-login.settings';
import { LearntServers, passwordLoginInOneTrip, trimLoginRoundTrips } from './login-round-trips';

export type ImapClientOptions = Omit<ImapFlowOptions, 'host' | 'port' | 'secure' | 'auth' | 'tls' | 'logger' | 'servername' | 'doSTARTTLS'>;

/** What one connection dials and presents, worked out right before it is made. */
export type ImapConnectionOptions = Pick<ImapFlowOptions, 'host' | 'port' | 'secure' | 'servername' | 'doSTARTTLS' | 'auth' | 'tls'>;

/**
 * What a consumer that only opens clients needs of {@link ImapClientFactory}, so a unit test can
 * pass a typed fake (`FakeImapClientFactory` in libs/testing) with no policy, DNS or credentials;
 * Nest still injects the factory by its class token (`@Inject(ImapClientFactory)`).
 */
export type ImapClientCreator = Pick<ImapClientFactory, 'create'>;

/**
 * Creates imapflow clients from stored account settings.
 *
 * Every client gets its options from {@link connectionOptions}, an async step run per
 * connection: it resolves the host once, checks every address against the operator's policy
 * (MailHostRefusedError when refused) and dials the checked IP, presenting the host name for SNI
 * and certificate checks, so a DNS answer that changes between the check and the connect (DNS
 * rebinding) is never dialled. The credential comes from {@link MailCredentials}: the
 * password, or a fresh OAuth access token, which imapflow presents with XOAUTH2 (OAUTHBEARER
 * where the server advertises it). A session already logged in stays up when its token expires;
 * the next connection asks again.
 *
 * STARTTLS is required on ports that are not `secure` (imapflow fails with `tlsFailed` before
 * sending credentials) unless the operator allows plain text (ALLOW_INSECURE_MAIL). TLS
 * certificates are verified unless the account itself opted out, and imapflow's own logger
 * stays off because it logs raw protocol lines, which include credentials and message content.
 */
@Injectable()
export class ImapClientFactory {
  private readonly logger = new Logger(ImapClientFactory.name);
  /** The access token each OAuth client presented, for {@link loginRefused}. */
  private readonly tokens = new WeakMap<ImapFlow, string>();
  /** What earlier logins taught this process about each server (see trimLoginRoundTrips). */
  private readonly servers = new LearntServers();

  constructor(
    private readonly network: MailNetworkSettings,
    private readonly credentials: MailCredentials,
    private readonly logins: ImapLoginSettings = new ImapLoginSettings(),
  ) {}

  /** `accountId` keys the account's shared OAuth token cache (required for `oauth2` settings). */
  async connectionOptions(settings: ServerSettings, accountId?: string): Promise<ImapConnectionOptions> {
    const target = await this.network.policy.dialTarget(settings.host);
    if (settings.oauth2 && !accountId) throw new Error('an OAuth login needs the account id');
    const auth = await this.credentials.login(accountId ?? '', settings, 'imap');
    return {
      host: target.address,
      port: settings.port,
      secure: settings.secure,
      ...(target.servername ? { servername: target.servername } : {}),
      // Only `true` makes imapflow refuse a server without STARTTLS; `undefined` is opportunistic.
      ...(!settings.secure && !this.network.allowInsecure ? { doSTARTTLS: true } : {}),
      auth,
      tls: { rejectUnauthorized: settings.tlsRejectUnauthorized !== false, ...(target.servername ? { servername: target.servername } : {}) },
    };
  }

  /**
   * The credential the next login of this account would present (refreshing an OAuth token when
   * due). Rejects like {@link create} when the grant was revoked or a pushed token lapsed.
   */
  async checkCredential(settings: ServerSettings, accountId: string): Promise<void> {
    await this.credentials.login(accountId, settings, 'imap');
  }

  /**
   * A client ready to `connect()`; rejects (MailHostRefusedError) when the host is not allowed, and
   * (OAuthLoginError) when no access token can be had.
   */
  async create(settings: ServerSettings, options: ImapClientOptions = {}, accountId?: string): Promise<ImapFlow> {
    const connection = await this.connectionOptions(settings, accountId);
    const client: ImapFlow = new ImapFlow({
      ...connection,
      // Two round trips fewer per login (login-round-trips.ts).
      ...(connection.auth ? { auth: passwordLoginInOneTrip(connection.auth, () => client) } : {}),
      logger: false,
      connectionTimeout: 15_000,
      greetingTimeout: 10_000,
      socketTimeout: 5 * 60_000,
      ...options,
    });
    trimLoginRoundTrips(client, `${settings.host}:${settings.port}`, this.servers, { namespacesPerUser: this.logins.namespacesPerUser(settings.host) });
    // A client without an 'error' listener crashes the process on a socket timeout (imapflow#302);
    // callers add their own listeners, this one only guarantees there is always one.
    client.on('error', (err: Error) => this.logger.debug({ msg: 'imap client error', host: settings.host, err }));
    if (connection.auth?.accessToken) this.tokens.set(client, connection.auth.accessToken);
    return client;
  }

  /**
   * The server refused the access token `client` logged in with (expired or revoked before we
   * knew): the account's cached token is dropped, so the next login refreshes. True when the
   * client did present an OAuth token, i.e. when one more attempt with a new token makes sense.
   */
  async loginRefused(client: ImapFlow, settings: ServerSettings, accountId: string): Promise<boolean> {
    const token = this.tokens.get(client);
    if (!token || !settings.oauth2) return false;
    await this.credentials.refused(accountId, settings.oauth2, token, 'imap');
    return true;
  }
}
