import { passwordLoginInOneTrip } from './login-round-trips';

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
