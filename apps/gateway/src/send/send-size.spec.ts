import { base64DecodedLength, sendRequestSize } from './send-size';

describe('send size', () => {
  it('counts decoded attachment bytes, not base64 characters', () => {
    for (const n of [0, 1, 2, 3, 100, 1001]) expect(base64DecodedLength(Buffer.alloc(n, 1).toString('base64'))).toBe(n);
    expect(base64DecodedLength(Buffer.alloc(300, 1).toString('base64').replace(/.{76}/g, '$&\r\n'))).toBe(300);
  });

  it('adds subject, bodies and attachments', () => {
    const req = {
      accountId: 'a',
      idempotencyKey: 'k',
      to: [{ address: 'b@example.test' }],
      subject: 'héllo',
      text: 'abc',
      html: '<b>x</b>',
      attachments: [{ filename: 'f.bin', contentType: 'application/octet-stream', content: Buffer.alloc(10).toString('base64') }],
    };
    expect(sendRequestSize(req)).toBe(6 + 3 + 8 + 10 + 5);
  });
});
