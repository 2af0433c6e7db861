import { ConfigService } from '@pushmail/config';
import { ServerSettings } from '@pushmail/contracts';
import { MICROSOFT_MAIL_SCOPE, MICROSOFT_POP3_SCOPE, MailCredentialProvider } from '@pushmail/credentials';
import { CredentialCipher } from '@pushmail/crypto';
import { ImapClientFactory } from '@pushmail/imap';
import { MailHostPolicy, MailNetworkSettings } from '@pushmail/net-policy';
import { HealthService, MetricsService } from '@pushmail/observability';
import { RedisService } from '@pushmail/redis';
import { TEST_SECRET_KEY, TestRedis } from '@pushmail/testing';
import { Pop3ClientFactory } from '../src';

/**
 * Microsoft's token endpoint cannot be reached from here: its HTTP call is replaced by a recorder
 * (the one stand-in; Redis is real). What is checked is the scope each refresh names, because
 * Microsoft puts in an access token only the scopes the refresh asked for, and its POP3 server
 * refuses a token without POP.AccessAsUser.All.
 */
const refreshes: Array<{ scope: string | null; token: string }> = [];
jest.mock('../../credentials/src/token-request', () => ({
  ...jest.requireActual('../../credentials/src/token-request'),
  postTokenForm: async (_url: string, form: URLSearchParams) => {
    const token = `access-${refreshes.length + 1}`;
    refreshes.push({ scope: form.get('scope'), token });
    return { status: 200, body: { access_token: token, expires_in: 3600 } };
  },
}));

describe('Microsoft OAuth grants ask for the scopes of the account’s protocol', () => {
  let redis: TestRedis;
  let service: RedisService;
  let credentials: MailCredentialProvider;
  const network = new MailNetworkSettings(new MailHostPolicy({ allowPrivate: true, allowlist: [] }), true);
  const oauth2 = { provider: 'microsoft' as const, refreshToken: 'refresh-from-consent' };
  const pop3 = { host: '127.0.0.1', port: 995, secure: true, user: 'pat@contoso.test', oauth2 };
  const smtp: ServerSettings = { host: '127.0.0.1', port: 587, secure: false, user: 'pat@contoso.test', oauth2 };

  beforeAll(async () => {
    redis = await TestRedis.start();
    service = new RedisService(new ConfigService({ REDIS_URL: redis.url, LOG_LEVEL: 'warn', SHUTDOWN_TIMEOUT_MS: 1000 }), new HealthService());
    credentials = new MailCredentialProvider(service, new CredentialCipher(TEST_SECRET_KEY), network, { OAUTH_MICROSOFT_CLIENT_ID: 'm-id' }, new MetricsService());
  });
  afterAll(async () => {
    await service?.onModuleDestroy();
    await redis?.dispose();
  });

  it('a POP3 account refreshes with POP and SMTP scopes, shared by its SMTP logins; an IMAP account keeps IMAP and SMTP', async () => {
    const pop3Login = await new Pop3ClientFactory(network, credentials).connectionOptions(pop3, 'acc_pop');
    expect(refreshes).toEqual([{ scope: MICROSOFT_POP3_SCOPE, token: 'access-1' }]);
    expect(pop3Login.accessToken).toBe('access-1');
    expect(MICROSOFT_POP3_SCOPE.split(' ')).toEqual(['offline_access', 'https://outlook.office.com/POP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send']);

    // The same account's SMTP login (the send path passes the account's protocol) reuses that token.
    expect(await credentials.login('acc_pop', smtp, 'pop3')).toEqual({ user: smtp.user, accessToken: 'access-1' });
    expect(refreshes).toHaveLength(1);

    // An IMAP account with the same grant: its own token, with the IMAP scope.
    const imapLogin = await new ImapClientFactory(network, credentials).connectionOptions({ ...smtp, port: 993, secure: true }, 'acc_imap');
    expect(imapLogin.auth).toEqual({ user: smtp.user, accessToken: 'access-2' });
    expect(refreshes[1]).toEqual({ scope: MICROSOFT_MAIL_SCOPE, token: 'access-2' });

    // A token POP3 refused is dropped from the POP3 grant's cache: the next login refreshes it, with the POP scope again.
    await credentials.refused('acc_pop', oauth2, 'access-1', 'pop3');
    expect((await credentials.login('acc_pop', pop3, 'pop3')) as { accessToken: string }).toEqual({ user: pop3.user, accessToken: 'access-3' });
    expect(refreshes[2]).toEqual({ scope: MICROSOFT_POP3_SCOPE, token: 'access-3' });
  });
});
