import { UserSockets } from './user-sockets';

describe('UserSockets', () => {
  it('lists a user’s sockets until they leave, and forgets a user with none left', () => {
    const users = new UserSockets();
    users.add('u1', 's1');
    users.add('u1', 's2');
    users.add('u2', 's3');
    expect(users.of('u1').sort()).toEqual(['s1', 's2']);
    expect(users.of('u2')).toEqual(['s3']);
    expect(users.of('nobody')).toEqual([]);
    expect([users.has('u1'), users.has('nobody')]).toEqual([true, false]);

    users.remove('u1', 's1');
    users.remove('u1', 'unknown');
    users.remove('nobody', 's9');
    expect(users.of('u1')).toEqual(['s2']);
    users.remove('u1', 's2');
    expect(users.of('u1')).toEqual([]);
    expect(users.has('u1')).toBe(false);
    expect(users.userCount).toBe(1);
  });
});
