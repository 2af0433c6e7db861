import { GOOGLE_MAIL_SCOPE, MICROSOFT_MAIL_SCOPE, MICROSOFT_POP3_SCOPE, providerPreset, tokenEndpoint } from './oauth-providers';

const env = {
  OAUTH_GOOGLE_CLIENT_ID: 'g-id',
  OAUTH_GOOGLE_CLIENT_SECRET: 'g-secret',
  OAUTH_MICROSOFT_CLIENT_ID: 'm-id',
  OAUTH_MICROSOFT_CLIENT_SECRET: 'm-secret',
};

describe('OAuth provider presets', () => {
  it('Google: Gmail IMAP and SMTP over TLS, the full-mail scope, the operator app', () => {
    const p = providerPreset('google', env)!;
    expect(p.imap).toEqual({ host: 'imap.gmail.com', port: 993, secure: true });
    expect(p.smtp).toEqual({ host: 'smtp.gmail.com', port: 465, secure: true });
    expect(GOOGLE_MAIL_SCOPE).toBe('https://mail.google.com/');
    expect(p.scope.split(' ')).toEqual(expect.arrayContaining(['openid', 'email', 'https://mail.google.com/']));
    expect(p.authorizeUrl).toBe('https://accounts.google.com/o/oauth2/v2/auth');
    expect(p.tokenUrl).toBe('https://oauth2.googleapis.com/token');
    expect([p.clientId, p.clientSecret]).toEqual(['g-id', 'g-secret']);
  });

  it('Microsoft: Office 365 IMAP (TLS) and SMTP (STARTTLS on 587), IMAP and SMTP scopes with offline_access, tenant common by default', () => {
    const p = providerPreset('microsoft', env)!;
    expect(p.imap).toEqual({ host: 'outlook.office365.com', port: 993, secure: true });
    expect(p.smtp).toEqual({ host: 'smtp.office365.com', port: 587, secure: false });
    expect(MICROSOFT_MAIL_SCOPE.split(' ')).toEqual(['offline_access', 'https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send']);
    expect(p.scope.split(' ')).toEqual(expect.arrayContaining(MICROSOFT_MAIL_SCOPE.split(' ')));
    expect(p.tokenUrl).toBe('https://login.microsoftonline.com/common/oauth2/v2.0/token');
    expect(providerPreset('microsoft', { ...env, OAUTH_MICROSOFT_TENANT: 'contoso.onmicrosoft.com' })!.authorizeUrl).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
    );
  });

  it('a provider without a client id is not configured', () => {
    expect(providerPreset('google', {})).toBeUndefined();
    expect(providerPreset('microsoft', { OAUTH_GOOGLE_CLIENT_ID: 'x' })).toBeUndefined();
    expect(tokenEndpoint({ provider: 'google', refreshToken: 'r' }, {}, 'imap')).toBeUndefined();
  });

  it('token endpoints: presets use the operator app (Microsoft re-sends its scopes), custom is user-named, external has none', () => {
    expect(tokenEndpoint({ provider: 'google', refreshToken: 'r' }, env, 'imap')).toEqual({
      tokenUrl: 'https://oauth2.googleapis.com/token',
      clientId: 'g-id',
      clientSecret: 'g-secret',
      scope: undefined,
      userNamed: false,
    });
    expect(tokenEndpoint({ provider: 'microsoft', refreshToken: 'r' }, env, 'imap')?.scope).toBe(MICROSOFT_MAIL_SCOPE);
    expect(tokenEndpoint({ provider: 'custom', tokenUrl: 'https://id.example/token', clientId: 'c', refreshToken: 'r' }, env, 'imap')).toMatchObject({
      tokenUrl: 'https://id.example/token',
      userNamed: true,
    });
    expect(tokenEndpoint({ provider: 'external' }, env, 'imap')).toBeUndefined();
  });

  it('a POP3 account: Microsoft refreshes name POP and SMTP (not IMAP); Google and custom grants ask as for IMAP', () => {
    expect(tokenEndpoint({ provider: 'microsoft', refreshToken: 'r' }, env, 'pop3')?.scope).toBe(MICROSOFT_POP3_SCOPE);
    expect(MICROSOFT_POP3_SCOPE.split(' ')).toEqual(['offline_access', 'https://outlook.office.com/POP.AccessAsUser.All', 'https://outlook.office.com/SMTP.Send']);
    expect(tokenEndpoint({ provider: 'google', refreshToken: 'r' }, env, 'pop3')?.scope).toBeUndefined();
    const custom = { provider: 'custom', tokenUrl: 'https://id.example/token', clientId: 'c', refreshToken: 'r', scope: 'mail' } as const;
    expect(tokenEndpoint(custom, env, 'pop3')).toEqual(tokenEndpoint(custom, env, 'imap'));
  });
});
