import { classifySmtpError, smtpErrorCode } from './smtp-errors';

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

  it('names the failure for clients', () => {
    expect(smtpErrorCode({ responseCode: 550 })).toBe('smtp_550');
    expect(smtpErrorCode({ code: 'ECONNECTION' })).toBe('econnection');
  });
});
