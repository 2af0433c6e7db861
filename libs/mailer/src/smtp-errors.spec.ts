import { MailHostRefusedError, SmtpAuthUnavailableError } from '@pushmail/net-policy';
import { classifySmtpError, smtpErrorCode, smtpErrorMessage } from './smtp-errors';

describe('SMTP error classification', () => {
  it('treats 5xx replies as permanent and 4xx as transient', () => {
    expect(classifySmtpError({ responseCode: 550, code: 'EENVELOPE' })).toBe('permanent');
    expect(classifySmtpError({ responseCode: 535, code: 'EAUTH' })).toBe('permanent');
    expect(classifySmtpError({ responseCode: 451, code: 'EMESSAGE' })).toBe('transient');
    expect(classifySmtpError({ responseCode: 421 })).toBe('transient');
  });

  it('retries network failures', () => {
    expect(classifySmtpError({ code: 'ECONNECTION' })).toBe('transient');
    expect(classifySmtpError({ code: 'ETIMEDOUT' })).toBe('transient');
    expect(classifySmtpError(new Error('socket hang up'))).toBe('transient');
  });

  it('does not retry a server without AUTH or a refused host', () => {
    expect(classifySmtpError(Object.assign(new SmtpAuthUnavailableError(), { code: 'EAUTH' }))).toBe('permanent');
    expect(classifySmtpError(new MailHostRefusedError('h', { ok: false, code: 'host_not_allowed', address: '10.0.0.1', addressClass: 'private' }))).toBe('permanent');
    expect(classifySmtpError(new MailHostRefusedError('h', { ok: false, code: 'host_unresolvable' }))).toBe('transient');
  });

  it('names replies to the message by their SMTP code, everything else by its category', () => {
    expect(smtpErrorCode({ responseCode: 550, code: 'EENVELOPE' })).toBe('smtp_550');
    expect(smtpErrorCode({ responseCode: 451, code: 'EMESSAGE', response: '451 try later' })).toBe('smtp_451');
    expect(smtpErrorMessage({ responseCode: 451, code: 'EMESSAGE', response: '451 try later' })).toBe('451 try later');
    expect(smtpErrorCode({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED' })).toBe('connection_failed');
    expect(smtpErrorCode({ code: 'EAUTH', responseCode: 535 })).toBe('auth_failed');
    expect(smtpErrorCode({ code: 'ETLS', responseCode: 502 })).toBe('tls_failed');
    expect(smtpErrorCode({ code: 'ETIMEDOUT' })).toBe('timeout');
  });

  it('never passes a banner or an errno on for connection failures', () => {
    const banner = Object.assign(new Error('Server terminates connection. response=421 internal-relay-7.corp busy'), { code: 'ECONNECTION', responseCode: 421, response: '421 internal-relay-7.corp busy' });
    expect(smtpErrorCode(banner)).toBe('connection_failed');
    expect(smtpErrorMessage(banner)).not.toContain('internal-relay');
    expect(smtpErrorMessage({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.0.0.5:25' })).not.toMatch(/ECONNREFUSED|10\.0\.0\.5/);
  });
});
