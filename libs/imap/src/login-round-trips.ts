import type { ImapFlow } from 'imapflow';

/*
 * Two round trips fewer per IMAP login, for every connection pushmail opens (the watcher's
 * sessions and the fetcher's pooled connections). Measured on the notification ingress under load
 * (1,000 accounts, 50 messages/s, this machine's Dovecot): a new account's first message waited on
 * nine round trips before its FETCH answered (greeting, ID, AUTHENTICATE, its continuation, ID,
 * NAMESPACE, SELECT, FETCH), each 0.2-2 ms at p50 but 5-50 ms at p95 when the machine was busy, so
 * the tail of that first message grew with their number. Seven remain.
 */

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** What the login needs to know of the connection it is made on. */
export interface LoginConnection {
  capabilities: ReadonlyMap<string, unknown>;
}

/**
 * A password login as the LOGIN command: one round trip. imapflow otherwise sends SASL PLAIN as
 * `AUTHENTICATE PLAIN` and waits for the server's `+` before the credentials (it does not use
 * SASL-IR): two. Both carry the same secret over the same (TLS) connection. Where the server
 * says LOGINDISABLED, imapflow chooses as before: `loginMethod` is read at login time, once the
 * capabilities are known (a getter, as `connection` only exists after the options are made).
 * Credentials outside printable ASCII keep AUTHENTICATE PLAIN (base64): in LOGIN they would need
 * a literal, which servers handle less uniformly than SASL, and one more round trip without LITERAL+.
 */
export function passwordLoginInOneTrip<A extends { user: string; pass?: string; loginMethod?: string }>(auth: A, connection: () => LoginConnection | undefined): A & { loginMethod?: string } {
  if (!auth.pass || auth.loginMethod || !PRINTABLE_ASCII.test(auth.user + auth.pass)) return auth;
  const withLogin = { ...auth };
  Object.defineProperty(withLogin, 'loginMethod', {
    enumerable: true,
    get: () => (connection()?.capabilities.has('LOGINDISABLED') ? undefined : 'LOGIN'),
  });
  return withLogin;
}

type Run = (command: string, ...args: unknown[]) => Promise<unknown>;

/**
 * imapflow sends ID before authenticating, and again after it when the first answer named fewer
 * than two fields (Dovecot's names only itself), so most logins sent ID twice. The one after the
 * login stays (some servers, NetEase's among them, refuse SELECT from a client that has not sent
 * ID); the one before is skipped: a round trip, and the client's details sent before the server
 * knows who is asking. imapflow then asks after the login, as it does when the first answer is
 * short. `run` is an untyped imapflow internal, reached through this narrow check: an imapflow
 * without it sends both, as before.
 */
export function skipIdBeforeLogin(client: ImapFlow): void {
  const c: object = client;
  if (!('run' in c) || typeof c.run !== 'function') return;
  const run = c.run.bind(client) as Run;
  const guarded: Run = (command, ...args) => (command.toUpperCase() === 'ID' && !client.authenticated ? Promise.resolve(false) : run(command, ...args));
  Object.defineProperty(client, 'run', { value: guarded, configurable: true, writable: true });
}
