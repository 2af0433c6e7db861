import { AddressClass, classifyAddress, parseAddress, parseCidr, parseIPv6 } from './ip-address';

describe('classifyAddress', () => {
  const cases: Array<[string, AddressClass]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.10', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'],
    ['169.254.1.1', 'link_local'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'], // Teredo
    ['::10.0.0.1', 'reserved'], // IPv4-compatible
    ['169.254.169.254', 'cloud_metadata'],
    ['fd00:ec2::254', 'cloud_metadata'],
    ['100.100.100.200', 'cloud_metadata'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:a00:1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:169.254.169.254', 'cloud_metadata'],
    ['0:0:0:0:0:ffff:7f00:1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'], // NAT64 of 127.0.0.1
    ['64:ff9b::a9fe:a9fe', 'cloud_metadata'], // NAT64 of 169.254.169.254
    ['2002:0a00:0001::1', 'private'], // 6to4 of 10.0.0.1
    ['64:ff9b:1::1', 'private'],
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['169.255.0.1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['::ffff:8.8.8.8', 'public'],
    ['2002:0808:0808::1', 'public'],
  ];
  it.each(cases)('%s is %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it('refuses host names (they must be resolved first)', () => {
    expect(() => classifyAddress('mail.example.com')).toThrow(TypeError);
    expect(parseAddress('localhost')).toBeNull();
    expect(parseAddress('1.2.3')).toBeNull();
  });
});

describe('parseIPv6', () => {
  it('expands every text form to the same 128 bits', () => {
    const full = parseIPv6('0000:0000:0000:0000:0000:ffff:0a00:0001');
    expect(parseIPv6('::ffff:10.0.0.1')).toBe(full);
    expect(parseIPv6('::FFFF:A00:1')).toBe(full);
    expect(parseIPv6('1::')).toBe(1n << 112n);
    expect(parseIPv6('::')).toBe(0n);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n);
    expect(parseIPv6('1:2::7:8')).toBe(0x00010002000000000000000000070008n);
    expect(parseIPv6('1.2.3.4')).toBeNull();
    expect(parseIPv6('1:::2')).toBeNull();
  });
});

describe('parseCidr', () => {
  it('accepts CIDRs and single addresses, refuses the rest', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ family: 4, base: 10n << 24n, prefix: 8 });
    expect(parseCidr('10.1.2.3')).toMatchObject({ prefix: 32 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, prefix: 8 });
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('10.0.0.0/x')).toBeNull();
    expect(parseCidr('mail.example.com')).toBeNull();
  });
});
