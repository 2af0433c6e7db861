import { ImapLoginSettings } from './imap-login.settings';

describe('ImapLoginSettings', () => {
  it('names the hosts whose logins ask NAMESPACE every time, case-insensitively; none by default', () => {
    const settings = ImapLoginSettings.fromEnv({ IMAP_PER_USER_NAMESPACE_HOSTS: ['Mail.Example.Test', '192.0.2.7'] });
    expect(settings.namespacesPerUser('mail.example.test')).toBe(true);
    expect(settings.namespacesPerUser('192.0.2.7')).toBe(true);
    expect(settings.namespacesPerUser('imap.example.test')).toBe(false);
    expect(new ImapLoginSettings().namespacesPerUser('mail.example.test')).toBe(false);
  });

  it('`*` names every host', () => {
    expect(new ImapLoginSettings(['*']).namespacesPerUser('anything.example')).toBe(true);
  });
});
