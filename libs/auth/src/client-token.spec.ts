import { SignJWT, UnsecuredJWT } from 'jose';
import { InvalidClientTokenError, signClientToken, verifyClientToken } from './client-token';
import { PartLinkSigner } from './part-link';
import { bearerToken, secretsMatch } from './secret-compare';

const SECRET = 'unit-test-secret-0123456789abcdef';

describe('client tokens', () => {
  it('accepts a token signed with the secret and returns its subject', async () => {
    const token = await signClientToken('u1', SECRET, { expiresInSeconds: 60 });
    const identity = await verifyClientToken(token, SECRET);
    expect(identity.userId).toBe('u1');
    expect(identity.expiresAt).toBeGreaterThan(Date.now() / 1000);
  });

  it.each([
    ['missing', async () => undefined],
    ['signed with another key', () => signClientToken('u1', 'another-secret-0123456789abcdef')],
    ['expired', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime(Math.floor(Date.now() / 1000) - 10).sign(new TextEncoder().encode(SECRET))],
    ['unsigned (alg none)', async () => new UnsecuredJWT({}).setSubject('u1').encode()],
    ['without sub', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET))],
    ['without exp (it would never expire)', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').sign(new TextEncoder().encode(SECRET))],
    ['garbage', async () => 'not.a.jwt'],
  ])('refuses a token that is %s', async (_what, make) => {
    await expect(verifyClientToken(await make(), SECRET)).rejects.toBeInstanceOf(InvalidClientTokenError);
  });

  it('checks the audience and the issuer when they are configured', async () => {
    const checks = { audience: 'pushmail', issuer: 'https://idp.example' };
    const good = await signClientToken('u1', SECRET, checks);
    await expect(verifyClientToken(good, SECRET, checks)).resolves.toMatchObject({ userId: 'u1' });
    await expect(verifyClientToken(await signClientToken('u1', SECRET, { ...checks, audience: 'other' }), SECRET, checks)).rejects.toBeInstanceOf(InvalidClientTokenError);
    await expect(verifyClientToken(await signClientToken('u1', SECRET, { ...checks, issuer: 'https://evil.example' }), SECRET, checks)).rejects.toBeInstanceOf(InvalidClientTokenError);
    await expect(verifyClientToken(await signClientToken('u1', SECRET), SECRET, checks)).rejects.toBeInstanceOf(InvalidClientTokenError);
    // Unset checks accept any audience and issuer.
    await expect(verifyClientToken(good, SECRET)).resolves.toMatchObject({ userId: 'u1' });
  });

  it('tells an expired token apart (for logs)', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime(1).sign(new TextEncoder().encode(SECRET));
    await expect(verifyClientToken(token, SECRET)).rejects.toMatchObject({ reason: 'expired' });
  });
});

describe('part links', () => {
  const signer = new PartLinkSigner(SECRET);
  const scope = { accountId: 'a1', mailbox: 'INBOX', uid: 7, partId: '2' };
  const now = 1_800_000_000;

  it('accepts its own signature until it expires', () => {
    const sig = signer.sign(scope, now + 300);
    expect(signer.check(scope, now + 300, sig, now)).toEqual({ ok: true });
    expect(signer.check(scope, now + 300, sig, now + 300)).toEqual({ ok: false, code: 'expired' });
  });

  it.each([
    ['another part', { partId: '3' }],
    ['another uid', { uid: 8 }],
    ['another mailbox', { mailbox: 'Sent' }],
    ['another account', { accountId: 'a2' }],
  ])('refuses a signature for %s', (_what, change) => {
    const sig = signer.sign(scope, now + 300);
    expect(signer.check({ ...scope, ...change }, now + 300, sig, now)).toEqual({ ok: false, code: 'invalid' });
  });

  it('refuses a moved expiry, another key, garbage, and an expiry beyond the maximum', () => {
    const sig = signer.sign(scope, now + 300);
    expect(signer.check(scope, now + 301, sig, now)).toEqual({ ok: false, code: 'invalid' });
    expect(new PartLinkSigner('another-secret-0123456789abcdef!').check(scope, now + 300, sig, now)).toEqual({ ok: false, code: 'invalid' });
    expect(signer.check(scope, now + 300, 'x', now)).toEqual({ ok: false, code: 'invalid' });
    expect(signer.check(scope, now + 3600, signer.sign(scope, now + 3600), now)).toEqual({ ok: false, code: 'expired' });
  });
});

describe('secret helpers', () => {
  it('compares secrets exactly', () => {
    expect(secretsMatch('abc', 'abc')).toBe(true);
    expect(secretsMatch('abcd', 'abc')).toBe(false);
    expect(secretsMatch(undefined, 'abc')).toBe(false);
  });

  it('extracts bearer tokens only from the exact scheme', () => {
    expect(bearerToken('Bearer t0k.en')).toBe('t0k.en');
    expect(bearerToken('bearer x')).toBe('x'); // the scheme is case-insensitive (RFC 7235)
    expect(bearerToken('Basic x')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
