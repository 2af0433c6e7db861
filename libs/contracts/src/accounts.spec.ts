import { CreateAccountBodySchema, PatchAccountBodySchema, PushAccessTokenBodySchema, ServerSettingsSchema } from './accounts';

const base = { host: 'imap.example.com', port: 993, secure: true, user: 'a@example.com' };
const pathsOf = (r: { success: boolean; error?: { issues: Array<{ path: (string | number)[] }> } }) => (r.error?.issues ?? []).map((i) => i.path.join('.'));

describe('server settings credentials', () => {
  it('takes a password or one of the oauth2 providers', () => {
    expect(ServerSettingsSchema.safeParse({ ...base, pass: 'pw' }).success).toBe(true);
    expect(ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'google', refreshToken: 'r' } }).success).toBe(true);
    expect(ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'microsoft', refreshToken: 'r' } }).success).toBe(true);
    expect(ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'external' } }).success).toBe(true);
    expect(
      ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'custom', tokenUrl: 'https://id.example.com/token', clientId: 'c', refreshToken: 'r', scope: 'mail' } }).success,
    ).toBe(true);
  });

  it('refuses neither or both, naming the field', () => {
    const none = CreateAccountBodySchema.safeParse({ userId: 'u', email: 'a@example.com', imap: base, smtp: { ...base, pass: 'p' } });
    expect(pathsOf(none)).toEqual(['imap.pass']);
    const both = CreateAccountBodySchema.safeParse({ userId: 'u', email: 'a@example.com', imap: { ...base, pass: 'p' }, smtp: { ...base, pass: 'p', oauth2: { provider: 'external' } } });
    expect(pathsOf(both)).toEqual(['smtp.oauth2']);
  });

  it('refuses unknown providers, missing refresh tokens, extra fields and plain-http token URLs off loopback', () => {
    expect(pathsOf(ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'yahoo', refreshToken: 'r' } }))).toEqual(['oauth2.provider']);
    expect(pathsOf(ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'google' } }))).toEqual(['oauth2.refreshToken']);
    expect(ServerSettingsSchema.safeParse({ ...base, oauth2: { provider: 'external', refreshToken: 'r' } }).success).toBe(false);
    const custom = { provider: 'custom', clientId: 'c', refreshToken: 'r' };
    expect(pathsOf(ServerSettingsSchema.safeParse({ ...base, oauth2: { ...custom, tokenUrl: 'http://id.example.com/token' } }))).toEqual(['oauth2.tokenUrl']);
    expect(ServerSettingsSchema.safeParse({ ...base, oauth2: { ...custom, tokenUrl: 'http://127.0.0.1:8080/token' } }).success).toBe(true);
  });

  it('pushed access tokens need a token and an ISO expiry', () => {
    expect(PushAccessTokenBodySchema.safeParse({ accessToken: 't', expiresAt: '2030-01-01T00:00:00Z' }).success).toBe(true);
    expect(pathsOf(PushAccessTokenBodySchema.safeParse({ accessToken: 't', expiresAt: 123 }))).toEqual(['expiresAt']);
  });
});

describe('POP3 accounts', () => {
  const pop3 = { host: 'pop.example.com', port: 995, secure: true, user: 'a@example.com', pass: 'pw' };
  const smtp = { ...base, pass: 'p' };
  const body = { userId: 'u', email: 'a@example.com', smtp };

  it('takes pop3 instead of imap, with an optional poll interval and deleteAfterDays', () => {
    const parsed = CreateAccountBodySchema.safeParse({ ...body, pop3: { ...pop3, deleteAfterDays: 30 }, pollIntervalSeconds: 120 });
    expect(parsed.success).toBe(true);
    expect(parsed.data).toMatchObject({ mailboxes: ['INBOX'], pollIntervalSeconds: 120 });
  });

  it('watches every folder by default on IMAP ("*"), and INBOX on POP3, whose "*" is INBOX', () => {
    expect(CreateAccountBodySchema.parse({ ...body, imap: smtp }).mailboxes).toEqual(['*']);
    expect(CreateAccountBodySchema.parse({ ...body, imap: smtp, mailboxes: ['*', 'Junk'] }).mailboxes).toEqual(['*', 'Junk']);
    expect(CreateAccountBodySchema.parse({ ...body, pop3 }).mailboxes).toEqual(['INBOX']);
    expect(CreateAccountBodySchema.parse({ ...body, pop3, mailboxes: ['*'] }).mailboxes).toEqual(['INBOX']);
  });

  it('refuses neither or both of imap and pop3, naming the field', () => {
    expect(pathsOf(CreateAccountBodySchema.safeParse(body))).toEqual(['imap']);
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, imap: smtp, pop3 }))).toEqual(['pop3']);
  });

  it('refuses folders other than INBOX, a poll interval on IMAP, out-of-range intervals and a POP3 login without a password', () => {
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, pop3, mailboxes: ['INBOX', 'Sent'] }))).toEqual(['mailboxes']);
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, imap: smtp, pollIntervalSeconds: 60 }))).toEqual(['pollIntervalSeconds']);
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, pop3, pollIntervalSeconds: 3601 }))).toEqual(['pollIntervalSeconds']);
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, pop3: { ...pop3, pass: undefined } }))).toEqual(['pop3.pass']);
  });

  it('takes oauth2 instead of pass on pop3, exactly one of them, naming the field', () => {
    const oauth2 = { provider: 'custom' as const, tokenUrl: 'https://id.example.com/token', clientId: 'c', refreshToken: 'r' };
    const { pass: _pass, ...noPass } = pop3;
    expect(CreateAccountBodySchema.safeParse({ ...body, pop3: { ...noPass, oauth2 } }).success).toBe(true);
    expect(PatchAccountBodySchema.safeParse({ pop3: { ...noPass, oauth2: { provider: 'external' } } }).success).toBe(true);
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, pop3: { ...pop3, oauth2 } }))).toEqual(['pop3.oauth2']);
    expect(pathsOf(PatchAccountBodySchema.safeParse({ pop3: noPass }))).toEqual(['pop3.pass']);
    expect(pathsOf(CreateAccountBodySchema.safeParse({ ...body, pop3: { ...noPass, oauth2: { provider: 'custom', clientId: 'c', refreshToken: 'r' } } }))).toEqual(['pop3.oauth2.tokenUrl']);
  });
});
