import type { IdInfoObject, ImapFlow, NamespaceObject, NamespacesObject } from 'imapflow';

/*
 * Two round trips fewer per IMAP login, for every connection pushmail opens (the watcher's
 * sessions and the fetcher's pooled connections). Measured on the notification ingress under load
 * (1,000 accounts, 50 messages/s, this machine's Dovecot): a new account's first message waited on
 * nine round trips before its FETCH answered (greeting, ID, AUTHENTICATE, its continuation, ID,
 * NAMESPACE, SELECT, FETCH), each 0.2-2 ms at p50 but 5-50 ms at p95 when the machine was busy, so
 * the tail of that first message grew with their number. Seven remained; five once a login to
 * the same Dovecot has taught the process its ID and NAMESPACE answers (trimLoginRoundTrips).
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
 * What a login to a server learnt that the next login to the same server need not ask again:
 * the server's ID answer and its namespaces. Only Dovecot's answers are reused. Dovecot does not
 * need the client's ID to serve it, and it takes its namespaces from its own configuration, the
 * same for every user, unless its userdb overrides them per user: such a host is named in
 * IMAP_PER_USER_NAMESPACE_HOSTS, and its logins ask NAMESPACE every time (a learnt prefix would
 * make imapflow open `INBOX/Sent` for a user whose Sent is `Sent`). Other servers are asked on every login:
 * NetEase refuses SELECT from a client that has not sent ID, and Exchange reports a failed login
 * only through NAMESPACE's BAD.
 * A profile is learnt again after {@link LEARNT_SERVER_TTL_MS}, so a server replaced behind the same
 * address (by another product, or with new namespaces) is asked again within minutes.
 */
export interface LearntServer {
  serverInfo: IdInfoObject;
  namespaces: NamespacesObject;
  learntAt: number;
}

export const LEARNT_SERVER_TTL_MS = 10 * 60_000;

/** Learnt servers by address (`host:port` as the account names it); one per process. */
export class LearntServers {
  private readonly servers = new Map<string, LearntServer>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The profile a login to `address` may reuse, if one was learnt recently from a Dovecot. */
  reusable(address: string): LearntServer | undefined {
    const server = this.servers.get(address);
    if (!server) return undefined;
    if (this.now() - server.learntAt < LEARNT_SERVER_TTL_MS) return server;
    this.servers.delete(address);
    return undefined;
  }

  learn(address: string, serverInfo: IdInfoObject, namespaces: NamespacesObject): void {
    if (typeof serverInfo.name !== 'string' || serverInfo.name.trim().toLowerCase() !== 'dovecot') return;
    this.servers.set(address, { serverInfo, namespaces, learntAt: this.now() });
  }
}

/** The client state ID and NAMESPACE set, as imapflow's commands leave it. */
interface LoginState {
  authenticated: unknown;
  serverInfo: IdInfoObject | null;
  namespace: NamespaceObject | undefined;
  namespaces: NamespacesObject | undefined;
}

/**
 * Round trips a login skips, for every connection pushmail opens (the watcher's sessions and the
 * fetcher's pooled connections):
 * - ID before authenticating. imapflow sends ID then, and again after the login when the first
 *   answer named fewer than two fields (Dovecot's names only itself), so most logins sent ID
 *   twice. The one before is skipped: a round trip, and the client's details sent before the
 *   server knows who is asking. imapflow then asks after the login, as it does when the first
 *   answer is short.
 * - ID and NAMESPACE after the login, where `servers` learnt them from an earlier login to the
 *   same Dovecot (see {@link LearntServer}): the client gets the learnt answers, as if the server
 *   had sent them. Measured on the notification ingress under load, these two round trips took a
 *   third of a new account's first fetch at p95. With `namespacesPerUser` only ID is skipped.
 * `run` is an untyped imapflow internal, reached through this narrow check: an imapflow without it
 * sends every command, as before.
 */
export function trimLoginRoundTrips(client: ImapFlow, address: string, servers: LearntServers, options: { namespacesPerUser?: boolean } = {}): void {
  const c: object = client;
  if (!('run' in c) || typeof c.run !== 'function') return;
  const run = c.run.bind(client) as Run;
  const state: LoginState = client;
  const learnt = servers.reusable(address);
  const guarded: Run = async (command, ...args) => {
    const name = command.toUpperCase();
    if (name === 'ID' && !client.authenticated) return false;
    if (name === 'ID' && learnt) {
      state.serverInfo = { ...learnt.serverInfo };
      return state.serverInfo;
    }
    if (name === 'NAMESPACE' && learnt && !options.namespacesPerUser) {
      state.namespaces = structuredClone(learnt.namespaces);
      state.namespace = state.namespaces.personal[0];
      return state.namespace;
    }
    const result = await run(command, ...args);
    // imapflow keeps the server's ID answer in serverInfo. A NAMESPACE that failed answers an
    // object with `error`, and leaves nothing to learn.
    if (name === 'NAMESPACE' && state.serverInfo && state.namespaces && !(result && typeof result === 'object' && 'error' in result)) {
      servers.learn(address, state.serverInfo, state.namespaces);
    }
    return result;
  };
  Object.defineProperty(client, 'run', { value: guarded, configurable: true, writable: true });
}
