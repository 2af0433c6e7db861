import { SignJWT, UnsecuredJWT } from 'jose';
import { InvalidClientTokenError, signClientToken, verifyClientToken } from './client-token';
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
    ['without sub', () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET))],
    ['garbage', async () => 'not.a.jwt'],
  ])('refuses a token that is %s', async (_what, make) => {
    await expect(verifyClientToken(await make(), SECRET)).rejects.toBeInstanceOf(InvalidClientTokenError);
  });

  it('tells an expired token apart (for logs)', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('u1').setExpirationTime(1).sign(new TextEncoder().encode(SECRET));
    await expect(verifyClientToken(token, SECRET)).rejects.toMatchObject({ reason: 'expired' });
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
