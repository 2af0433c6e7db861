import { compareEventIds } from '@pushmail/event-log';
import { eventIdBefore } from './subscription.service';

describe('eventIdBefore', () => {
  it('is the position just before a stream id', () => {
    expect(eventIdBefore('1700-3')).toBe('1700-2');
    expect(eventIdBefore('1700-0')).toBe('1699-18446744073709551615');
    expect(eventIdBefore('0-0')).toBe('0-0');
    for (const id of ['5-0', '5-7', '1795888997624-0']) expect(compareEventIds(eventIdBefore(id), id)).toBe(-1);
  });
});
