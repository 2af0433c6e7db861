import { replyHeaders } from './reply-headers';

describe('replyHeaders', () => {
  it('threads on the original and prefixes Re: once', () => {
    expect(replyHeaders('Lunch', { messageId: '<b@x>', references: ['<a@x>'], subject: 'Lunch' })).toEqual({
      inReplyTo: '<b@x>',
      references: ['<a@x>', '<b@x>'],
      subject: 'Re: Lunch',
    });
    expect(replyHeaders('Re: Lunch', { messageId: '<b@x>', subject: 'Lunch' }).subject).toBe('Re: Lunch');
    expect(replyHeaders('RE:Lunch', { messageId: '<b@x>', subject: 'Lunch' }).subject).toBe('RE:Lunch');
  });

  it("uses the original's subject when the reply has none", () => {
    expect(replyHeaders('', { messageId: '<b@x>', subject: 'Re: Lunch' }).subject).toBe('Re: Lunch');
  });

  it('starts References when the original had none, and skips threading without a Message-ID', () => {
    expect(replyHeaders('x', { messageId: '<b@x>', subject: 'x' }).references).toEqual(['<b@x>']);
    expect(replyHeaders('x', { messageId: null, subject: 'x' })).toEqual({ subject: 'Re: x' });
  });
});
