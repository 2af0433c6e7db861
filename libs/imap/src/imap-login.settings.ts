import { ImapLoginEnv } from '@pushmail/config';

/**
 * How logins treat a server's answers (IMAP_PER_USER_NAMESPACE_HOSTS). By default a later login
 * to a Dovecot takes the namespaces an earlier login to it got (trimLoginRoundTrips): Dovecot's
 * come from its configuration, the same for every user, unless its userdb sets them per user. On
 * the hosts named here every login asks NAMESPACE, so each user gets their own prefix and
 * separator (imapflow prefixes the paths it is given with them).
 */
export class ImapLoginSettings {
  private readonly hosts: ReadonlySet<string>;

  constructor(perUserNamespaceHosts: readonly string[] = []) {
    this.hosts = new Set(perUserNamespaceHosts.map((h) => h.toLowerCase()));
  }

  static fromEnv(env: ImapLoginEnv): ImapLoginSettings {
    return new ImapLoginSettings(env.IMAP_PER_USER_NAMESPACE_HOSTS);
  }

  /** True when logins to `host` (as the account names it) must ask NAMESPACE every time. */
  namespacesPerUser(host: string): boolean {
    return this.hosts.has('*') || this.hosts.has(host.toLowerCase());
  }
}
