import { SendJobName } from '@pushmail/contracts';
import { UnrecoverableError } from 'bullmq';
import { validSendJob } from './send.worker';

describe('validSendJob', () => {
  it('passes a payload that matches the contract', () => {
    expect(validSendJob({ name: SendJobName.Send, data: { accountId: 'acc_1', sendId: 'snd_1' } })).toEqual({ accountId: 'acc_1', sendId: 'snd_1' });
  });

  it('fails for good on a malformed payload or an unknown job name, instead of retrying', () => {
    expect(() => validSendJob({ name: SendJobName.Send, data: { accountId: 'acc 1', sendId: 'snd_1' } })).toThrow(UnrecoverableError);
    expect(() => validSendJob({ name: SendJobName.Send, data: { accountId: 'acc_1' } })).toThrow(/sendId/);
    expect(() => validSendJob({ name: SendJobName.Send, data: null })).toThrow(UnrecoverableError);
    expect(() => validSendJob({ name: 'other', data: { accountId: 'acc_1', sendId: 'snd_1' } })).toThrow(/unknown send job/);
  });
});
