import { SmtpAuthUnavailableError } from '@pushmail/net-policy';
import { MailLogin } from '@pushmail/credentials';
import { SmtpSaslChannel, authenticateOnlyIfOffered } from './smtp-mailer';

/**
 * The SMTP SASL step on its own, against a scripted server: which mechanism an OAuth login uses
 * by what the server offers, the RFC 7628 OAUTHBEARER message, and the abort a refused token
 * needs. (The test SMTP sink speaks XOAUTH2 only, so OAUTHBEARER is checked here.)
 */
class ScriptedServer implements SmtpSaslChannel {
  readonly sent: string[] = [];
  constructor(
    readonly authMethods: string[],
    private readonly replies: number[],
  ) {}
  async sendCommand(cmd: string): Promise<{ status: number }> {
    this.sent.push(cmd);
    return { status: this.replies.shift() ?? 500 };
  }
}

const token: MailLogin = { user: 'a,b=c@example.test', accessToken: 'tok-123' };
const decoded = (cmd: string) => Buffer.from(cmd.split(' ').at(-1)!, 'base64').toString('utf8');

describe('authenticateOnlyIfOffered (SMTP SASL)', () => {
  it('uses XOAUTH2 when offered, even beside OAUTHBEARER', async () => {
    const server = new ScriptedServer(['PLAIN', 'XOAUTH2', 'OAUTHBEARER'], [235]);
    await authenticateOnlyIfOffered(server, async () => token);
    expect(server.sent[0]).toMatch(/^AUTH XOAUTH2 /);
    expect(decoded(server.sent[0])).toBe('user=a,b=c@example.test\u0001auth=Bearer tok-123\u0001\u0001');
  });

  it('uses OAUTHBEARER (RFC 7628, GS2 header with an escaped saslname) when only it is offered', async () => {
    const server = new ScriptedServer(['PLAIN', 'OAUTHBEARER'], [235]);
    await authenticateOnlyIfOffered(server, async () => token);
    expect(server.sent).toHaveLength(1);
    expect(server.sent[0]).toMatch(/^AUTH OAUTHBEARER /);
    expect(decoded(server.sent[0])).toBe('n,a=a=2Cb=3Dc@example.test,\u0001auth=Bearer tok-123\u0001\u0001');
  });

  it('answers a refused OAUTHBEARER token with the ^A abort and fails as an authentication failure', async () => {
    const server = new ScriptedServer(['OAUTHBEARER'], [334, 535]);
    await expect(authenticateOnlyIfOffered(server, async () => token)).rejects.toMatchObject({ authenticationFailed: true, responseCode: 334 });
    expect(server.sent[1]).toBe(Buffer.from('\u0001').toString('base64'));
  });

  it('answers a refused XOAUTH2 token with an empty line', async () => {
    const server = new ScriptedServer(['XOAUTH2'], [334, 535]);
    await expect(authenticateOnlyIfOffered(server, async () => token)).rejects.toMatchObject({ authenticationFailed: true });
    expect(server.sent[1]).toBe('');
  });

  it('sends no token to a server that offers neither OAuth mechanism', async () => {
    const server = new ScriptedServer(['PLAIN', 'LOGIN'], []);
    await expect(authenticateOnlyIfOffered(server, async () => token)).rejects.toBeInstanceOf(SmtpAuthUnavailableError);
    expect(server.sent).toEqual([]);
  });
});
