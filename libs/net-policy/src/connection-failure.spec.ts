import { classifyConnectionError, SmtpAuthUnavailableError } from './connection-failure';
import { MailHostRefusedError } from './mail-host-policy';

const err = (props: Record<string, unknown>, message = 'x') => Object.assign(new Error(message), props);

describe('classifyConnectionError', () => {
  it.each([
    ['refused port', err({ code: 'ECONNREFUSED' }), 'connection_failed'],
    ['reset', err({ code: 'ECONNRESET' }), 'connection_failed'],
    ['unreachable', err({ code: 'EHOSTUNREACH' }), 'connection_failed'],
    ['no such host', err({ code: 'ENOTFOUND' }), 'connection_failed'],
    ['imapflow closed', err({ code: 'NoConnection' }), 'connection_failed'],
    ['nodemailer wrapping a refusal', err({ code: 'ECONNECTION', originalCode: 'ECONNREFUSED' }), 'connection_failed'],
    ['imapflow greeting timeout', err({ code: 'GREETING_TIMEOUT' }), 'timeout'],
    ['imapflow connect timeout', err({ code: 'CONNECT_TIMEOUT' }), 'timeout'],
    ['nodemailer greeting timeout', err({ code: 'ETIMEDOUT' }), 'timeout'],
    ['imapflow login refused', err({ authenticationFailed: true, serverResponseCode: 'AUTHENTICATIONFAILED' }), 'auth_failed'],
    ['nodemailer 535', err({ code: 'EAUTH', responseCode: 535 }), 'auth_failed'],
    ['imapflow STARTTLS required', err({ tlsFailed: true }), 'tls_failed'],
    ['nodemailer STARTTLS failed', err({ code: 'ETLS' }), 'tls_failed'],
    ['TLS to a plain server', err({ code: 'ERR_SSL_WRONG_VERSION_NUMBER', library: 'SSL routines' }), 'tls_failed'],
    ['nodemailer wrapping TLS', err({ code: 'ECONNECTION', originalCode: 'ERR_SSL_PACKET_LENGTH_TOO_LONG' }), 'tls_failed'],
    ['bad certificate', err({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'tls_failed'],
    ['OpenSSL without a code', err({ library: 'SSL routines' }), 'tls_failed'],
    ['parser error', err({ code: 'ParserError' }), 'protocol_error'],
    ['nothing known', new Error('weird banner: internal-host-7 ready'), 'protocol_error'],
    ['not an error', 'boom', 'protocol_error'],
  ])('%s → %s', (_name, input, expected) => {
    expect(classifyConnectionError(input)).toBe(expected);
  });

  it('names the policy refusal and the missing SMTP AUTH', () => {
    expect(classifyConnectionError(new MailHostRefusedError('x', { ok: false, code: 'host_not_allowed', address: '10.0.0.1', addressClass: 'private' }))).toBe('host_not_allowed');
    expect(classifyConnectionError(new MailHostRefusedError('x', { ok: false, code: 'host_unresolvable' }))).toBe('connection_failed');
    // nodemailer sets code EAUTH on what a custom auth handler rejects with: the marker wins.
    expect(classifyConnectionError(Object.assign(new SmtpAuthUnavailableError(), { code: 'EAUTH' }))).toBe('protocol_error');
  });
});
