import { lmtpRejection } from './lmtp';

describe('lmtpRejection', () => {
  it('is null only when the recipient was accepted after DATA', () => {
    expect(lmtpRejection({ accepted: ['a@x.test'], rejected: [], response: '250 2.0.0 <a@x.test> Saved' })).toBeNull();
  });
  it('names the per-recipient reply of a delivery nodemailer resolved but Dovecot refused', () => {
    const err = Object.assign(new Error('Recipient command failed'), { response: '421 4.3.2 Shutting down' });
    expect(lmtpRejection({ accepted: [], rejected: ['a@x.test'], rejectedErrors: [err] })).toBe('421 4.3.2 Shutting down');
  });
  it('refuses a reply that accepted no one', () => {
    expect(lmtpRejection({})).toBe('no 2xx reply after DATA');
  });
});
