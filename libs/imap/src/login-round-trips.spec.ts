import { LEARNT_SERVER_TTL_MS, LearntServers, passwordLoginInOneTrip, trimLoginRoundTrips } from './login-round-trips';

describe('passwordLoginInOneTrip', () => {
  const connection = (capabilities: string[]) => ({ capabilities: new Map(capabilities.map((c) => [c, true])) });

  it('asks imapflow for the LOGIN command, decided when imapflow reads it (capabilities known by then)', () => {
    let caps = connection([]);
    const auth = passwordLoginInOneTrip({ user: 'u', pass: 'p' }, () => caps);
    expect(auth.loginMethod).toBe('LOGIN');
    caps = connection(['LOGINDISABLED', 'AUTH=PLAIN']);
    expect(auth.loginMethod).toBeUndefined();
    expect({ user: auth.user, pass: auth.pass }).toEqual({ user: 'u', pass: 'p' });
  });

  it('keeps AUTHENTICATE PLAIN for credentials outside printable ASCII', () => {
    expect(passwordLoginInOneTrip({ user: 'u', pass: 'pässword' }, () => connection([])).loginMethod).toBeUndefined();
    expect(passwordLoginInOneTrip({ user: 'jürgen@example.test', pass: 'p' }, () => connection([])).loginMethod).toBeUndefined();
  });

  it('leaves OAuth logins and an explicit method alone', () => {
    const oauth = { user: 'u', accessToken: 't' };
    expect(passwordLoginInOneTrip(oauth, () => undefined)).toBe(oauth);
    const explicit = { user: 'u', pass: 'p', loginMethod: 'AUTH=PLAIN' };
    expect(passwordLoginInOneTrip(explicit, () => undefined)).toBe(explicit);
  });
});

describe('trimLoginRoundTrips', () => {
  const dovecotId = { name: 'Dovecot' };
  const namespaces = { personal: [{ prefix: '', delimiter: '/' }], other: false as const, shared: false as const };

  /** The part of an imapflow client the guard touches; `run` answers ID and NAMESPACE as Dovecot does. */
  function fakeClient(idAnswer: Record<string, string> = dovecotId, userNamespaces: typeof namespaces = namespaces) {
    const sent: string[] = [];
    const client = {
      authenticated: false as unknown,
      serverInfo: null as unknown,
      namespace: undefined as unknown,
      namespaces: undefined as unknown,
      run: async (command: string) => {
        sent.push(command);
        if (command === 'ID') return (client.serverInfo = { ...idAnswer });
        if (command === 'NAMESPACE') {
          client.namespaces = structuredClone(userNamespaces);
          return (client.namespace = userNamespaces.personal[0]);
        }
        return true;
      },
    };
    return { client, sent, asImapFlow: client as never };
  }

  /** imapflow's order: ID (before the login), the login, ID again, NAMESPACE. */
  async function login(fake: ReturnType<typeof fakeClient>): Promise<void> {
    await fake.client.run('ID');
    await fake.client.run('LOGIN');
    fake.client.authenticated = true;
    await fake.client.run('ID');
    await fake.client.run('NAMESPACE');
  }

  it('skips ID before the login, and ID and NAMESPACE after it once a login to the same Dovecot taught them', async () => {
    const servers = new LearntServers();
    const first = fakeClient();
    trimLoginRoundTrips(first.asImapFlow, 'imap.example.test:143', servers);
    await login(first);
    expect(first.sent).toEqual(['LOGIN', 'ID', 'NAMESPACE']);

    const second = fakeClient();
    trimLoginRoundTrips(second.asImapFlow, 'imap.example.test:143', servers);
    await login(second);
    expect(second.sent).toEqual(['LOGIN']);
    // The client is left as if the server had answered: imapflow's paths use the namespace.
    expect(second.client.serverInfo).toEqual(dovecotId);
    expect(second.client.namespaces).toEqual(namespaces);
    expect(second.client.namespace).toEqual({ prefix: '', delimiter: '/' });
    // A copy, so one client changing its namespace object cannot change another's.
    expect(second.client.namespaces).not.toBe(first.client.namespaces);

    const elsewhere = fakeClient();
    trimLoginRoundTrips(elsewhere.asImapFlow, 'imap.example.test:993', servers);
    await login(elsewhere);
    expect(elsewhere.sent).toEqual(['LOGIN', 'ID', 'NAMESPACE']);
  });

  it('asks NAMESPACE on every login where namespaces are per user (IMAP_PER_USER_NAMESPACE_HOSTS), still skipping ID', async () => {
    const servers = new LearntServers();
    const courierStyle = { personal: [{ prefix: 'INBOX/', delimiter: '/' }], other: false as const, shared: false as const };
    const first = fakeClient(dovecotId, courierStyle);
    trimLoginRoundTrips(first.asImapFlow, 'imap.example.test:143', servers, { namespacesPerUser: true });
    await login(first);
    expect(first.sent).toEqual(['LOGIN', 'ID', 'NAMESPACE']);

    const second = fakeClient();
    trimLoginRoundTrips(second.asImapFlow, 'imap.example.test:143', servers, { namespacesPerUser: true });
    await login(second);
    expect(second.sent).toEqual(['LOGIN', 'NAMESPACE']);
    // Its own prefix, not the first user's `INBOX/`.
    expect(second.client.namespace).toEqual({ prefix: '', delimiter: '/' });
    expect(second.client.serverInfo).toEqual(dovecotId);
  });

  it('asks servers other than Dovecot on every login (NetEase needs ID, Exchange fails logins through NAMESPACE)', async () => {
    const servers = new LearntServers();
    for (let i = 0; i < 2; i++) {
      const fake = fakeClient({ name: 'Another IMAP server', version: '1.0' });
      trimLoginRoundTrips(fake.asImapFlow, 'imap.example.net:993', servers);
      await login(fake);
      expect(fake.sent).toEqual(['LOGIN', 'ID', 'NAMESPACE']);
    }
  });

  it('learns a server again after LEARNT_SERVER_TTL_MS', async () => {
    let now = 1_000_000;
    const servers = new LearntServers(() => now);
    await login(withGuard(fakeClient(), servers));
    now += LEARNT_SERVER_TTL_MS - 1;
    const reused = withGuard(fakeClient(), servers);
    await login(reused);
    expect(reused.sent).toEqual(['LOGIN']);
    now += 1;
    const relearnt = withGuard(fakeClient(), servers);
    await login(relearnt);
    expect(relearnt.sent).toEqual(['LOGIN', 'ID', 'NAMESPACE']);
  });

  function withGuard(fake: ReturnType<typeof fakeClient>, servers: LearntServers) {
    trimLoginRoundTrips(fake.asImapFlow, 'imap.example.test:143', servers);
    return fake;
  }
});
