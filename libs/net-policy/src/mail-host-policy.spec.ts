import { HostResolver, MailHostPolicy, MailHostRefusedError } from './mail-host-policy';

/** A resolver that answers from a table (and can change its answer, as a rebinding DNS server does). */
function tableResolver(table: Record<string, string[]>): HostResolver & { table: Record<string, string[]> } {
  const resolver = (async (host: string) => {
    const answer = resolver.table[host.toLowerCase().replace(/\.$/, '')];
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answer;
  }) as HostResolver & { table: Record<string, string[]> };
  resolver.table = table;
  return resolver;
}

const dns = () =>
  tableResolver({
    'mail.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'internal.example.com': ['10.1.2.3'],
    'mixed.example.com': ['93.184.216.34', '127.0.0.1'],
    'metadata.example.com': ['169.254.169.254'],
    'mapped.example.com': ['::ffff:192.168.0.1'],
    'mail.corp': ['10.9.9.9'],
    'a.mail.corp': ['10.9.9.10'],
    localhost: ['127.0.0.1', '::1'],
  });

const policy = (over: Partial<ConstructorParameters<typeof MailHostPolicy>[0]> = {}) => new MailHostPolicy({ allowPrivate: false, allowlist: [], resolver: dns(), ...over });

describe('MailHostPolicy.resolveAndCheck', () => {
  it('returns the first address of a public host, with the host as TLS servername', async () => {
    await expect(policy().resolveAndCheck('mail.example.com')).resolves.toEqual({ ok: true, address: '93.184.216.34', family: 4, servername: 'mail.example.com' });
    await expect(policy().resolveAndCheck('MAIL.example.com.')).resolves.toMatchObject({ ok: true, servername: 'mail.example.com' });
  });

  it('dials IP literals as given, without a servername', async () => {
    await expect(policy().resolveAndCheck('8.8.8.8')).resolves.toEqual({ ok: true, address: '8.8.8.8', family: 4 });
    await expect(policy().resolveAndCheck('[2606:4700::1111]')).resolves.toEqual({ ok: true, address: '2606:4700::1111', family: 6 });
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['[::1]', 'loopback'],
    ['localhost', 'loopback'],
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'cloud_metadata'],
    ['internal.example.com', 'private'],
    ['metadata.example.com', 'cloud_metadata'],
    ['mapped.example.com', 'private'],
    ['0.0.0.0', 'unspecified'],
  ])('refuses %s (%s)', async (host, addressClass) => {
    await expect(policy().resolveAndCheck(host)).resolves.toMatchObject({ ok: false, code: 'host_not_allowed', addressClass });
  });

  it('refuses a host when ANY of its addresses is forbidden', async () => {
    await expect(policy().resolveAndCheck('mixed.example.com')).resolves.toMatchObject({ ok: false, code: 'host_not_allowed', address: '127.0.0.1' });
  });

  it('reports unresolvable hosts, and a resolver that hangs', async () => {
    await expect(policy().resolveAndCheck('nowhere.example.com')).resolves.toEqual({ ok: false, code: 'host_unresolvable' });
    const hanging = new MailHostPolicy({ allowPrivate: false, allowlist: [], resolver: () => new Promise(() => undefined), resolveTimeoutMs: 20 });
    await expect(hanging.resolveAndCheck('slow.example.com')).resolves.toEqual({ ok: false, code: 'host_unresolvable' });
    const garbage = new MailHostPolicy({ allowPrivate: false, allowlist: [], resolver: async () => ['not-an-ip'] });
    await expect(garbage.resolveAndCheck('x.example.com')).resolves.toEqual({ ok: false, code: 'host_unresolvable' });
  });

  it('ALLOW_PRIVATE_MAIL_HOSTS lifts the refusal', async () => {
    await expect(policy({ allowPrivate: true }).resolveAndCheck('localhost')).resolves.toEqual({ ok: true, address: '127.0.0.1', family: 4, servername: 'localhost' });
    await expect(policy({ allowPrivate: true }).resolveAndCheck('169.254.169.254')).resolves.toMatchObject({ ok: true });
  });

  it('MAIL_HOST_ALLOWLIST lifts it for the names and CIDRs listed, and only those', async () => {
    const p = policy({ allowlist: ['mail.corp', '10.1.0.0/16', '::1'] });
    await expect(p.resolveAndCheck('mail.corp')).resolves.toMatchObject({ ok: true, address: '10.9.9.9' });
    await expect(p.resolveAndCheck('a.mail.corp')).resolves.toMatchObject({ ok: false });
    await expect(p.resolveAndCheck('internal.example.com')).resolves.toMatchObject({ ok: true, address: '10.1.2.3' });
    await expect(p.resolveAndCheck('[::1]')).resolves.toMatchObject({ ok: true });
    await expect(p.resolveAndCheck('10.2.0.1')).resolves.toMatchObject({ ok: false, addressClass: 'private' });
    await expect(p.resolveAndCheck('localhost')).resolves.toMatchObject({ ok: false, address: '127.0.0.1' });
    const wildcard = policy({ allowlist: ['*.mail.corp'] });
    await expect(wildcard.resolveAndCheck('a.mail.corp')).resolves.toMatchObject({ ok: true });
    await expect(wildcard.resolveAndCheck('mail.corp')).resolves.toMatchObject({ ok: false });
  });
});

describe('MailHostPolicy.dialTarget (connect time)', () => {
  it('catches DNS rebinding: public when the account was saved, loopback when dialled', async () => {
    const resolver = dns();
    resolver.table['rebind.example.com'] = ['93.184.216.34'];
    const p = new MailHostPolicy({ allowPrivate: false, allowlist: [], resolver });
    await expect(p.resolveAndCheck('rebind.example.com')).resolves.toMatchObject({ ok: true }); // account create
    resolver.table['rebind.example.com'] = ['127.0.0.1'];
    const refused = await p.dialTarget('rebind.example.com').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MailHostRefusedError);
    expect((refused as MailHostRefusedError).refusal).toMatchObject({ code: 'host_not_allowed', addressClass: 'loopback' });
  });

  it('returns exactly the checked address to dial', async () => {
    await expect(policy().dialTarget('mail.example.com')).resolves.toEqual({ address: '93.184.216.34', family: 4, servername: 'mail.example.com' });
  });
});
