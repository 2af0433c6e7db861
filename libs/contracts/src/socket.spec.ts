import { SubscribeRequestSchema } from './socket';

describe('SubscribeRequestSchema', () => {
  const issue = (body: unknown) => {
    const parsed = SubscribeRequestSchema.safeParse(body);
    return parsed.success ? undefined : parsed.error.issues[0];
  };

  it('accepts the single form and the batch form', () => {
    expect(SubscribeRequestSchema.parse({ accountId: 'a1', since: '1-0' })).toEqual({ accountId: 'a1', since: '1-0' });
    expect(SubscribeRequestSchema.parse({ accounts: [{ accountId: 'a1' }, { accountId: 'a2', since: '0-0' }] })).toEqual({
      accounts: [{ accountId: 'a1' }, { accountId: 'a2', since: '0-0' }],
    });
  });

  it('names the field that is wrong, in either form', () => {
    expect(issue({ accounts: Array.from({ length: 501 }, (_, i) => ({ accountId: `a${i}` })) })).toMatchObject({ path: ['accounts'], code: 'too_big' });
    expect(issue({ accounts: [] })).toMatchObject({ path: ['accounts'], code: 'too_small' });
    expect(issue({ accounts: [{ accountId: 'a1' }, { accountId: 'a2', since: 'x' }] })).toMatchObject({ path: ['accounts', 1, 'since'] });
    expect(issue({ accountId: 'a1', since: `${'1'.repeat(30)}-${'2'.repeat(10)}` })).toMatchObject({ path: ['since'], code: 'too_big' });
    expect(issue({ accountId: 'a1', accounts: [{ accountId: 'a1' }] })).toMatchObject({ code: 'unrecognized_keys' });
    expect(issue('a1')).toMatchObject({ path: [], code: 'invalid_type' });
  });
});
