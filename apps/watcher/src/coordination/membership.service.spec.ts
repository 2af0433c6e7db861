import { connectionAges, memberConnectionName } from './membership.service';

describe('connectionAges', () => {
  const line = (id: number, name: string, age: number) => `id=${id} addr=127.0.0.1:5${id} laddr=127.0.0.1:6379 fd=8 name=${name} age=${age} idle=0 flags=N db=0 cmd=client|list`;

  it('maps each connection name to its age in seconds', () => {
    const list = [line(1, memberConnectionName('w1.ab12cd'), 40), line(2, 'command', 3), line(3, '', 7)].join('\n') + '\n';
    const ages = connectionAges(list);
    expect(ages.get('pm-watcher:w1.ab12cd')).toBe(40);
    expect(ages.get('command')).toBe(3);
    // An unnamed connection is listed as `name=` and counts for nobody.
    expect([...ages.keys()]).toEqual(['pm-watcher:w1.ab12cd', 'command']);
  });

  it('takes the youngest of two connections with one name (a reconnect whose old socket lingers)', () => {
    const name = memberConnectionName('w2.000000');
    expect(connectionAges([line(1, name, 90), line(2, name, 2)].join('\n')).get(name)).toBe(2);
  });

  it('does not read `age=` out of another field', () => {
    expect(connectionAges('id=1 name=x lib-age=5').get('x')).toBeUndefined();
  });
});
