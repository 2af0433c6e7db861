import { compareEventIds, parsePublishedEvent, publishedEventAccount } from './event-log.service';

describe('event ids and notices', () => {
  it('orders stream ids numerically, not lexically', () => {
    expect(compareEventIds('9-0', '10-0')).toBe(-1);
    expect(compareEventIds('10-2', '10-10')).toBe(-1);
    expect(compareEventIds('10-1', '10-1')).toBe(0);
    expect(compareEventIds('11-0', '10-99')).toBe(1);
  });

  it('parses the events channel format', () => {
    const parsed = parsePublishedEvent('acc_1\nmessage.deleted\n1700000000000\n{"eventId":"1-0","accountId":"acc_1","mailbox":"INBOX","uid":3}');
    expect(parsed.accountId).toBe('acc_1');
    expect(parsed.event.name).toBe('message.deleted');
    expect(parsed.seenAt).toBe(1700000000000);
    expect(parsePublishedEvent('a\nmessage.deleted\n\n{"uid":1}').seenAt).toBeUndefined();
    expect(parsed.event.payload).toMatchObject({ eventId: '1-0', uid: 3 });
    expect(() => parsePublishedEvent('nonsense')).toThrow();
  });

  it('reads the account of a notice without its payload', () => {
    expect(publishedEventAccount('acc_1\nmessage.new\n\n{not json')).toBe('acc_1');
    expect(publishedEventAccount('no line break')).toBeUndefined();
    expect(publishedEventAccount('\nmessage.new')).toBeUndefined();
  });
});
