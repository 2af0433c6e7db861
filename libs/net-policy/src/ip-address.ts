import { isIPv4, isIPv6 } from 'node:net';

/**
 * Why an address is not dialled for a user's mail host. `public` is the only class a mail host
 * may resolve to unless the operator allows more (see MailHostPolicy).
 */
export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'cloud_metadata'
  | 'reserved';

/** An address as a number with its width, so one prefix test serves IPv4 and IPv6. */
export interface ParsedAddress {
  family: 4 | 6;
  value: bigint;
}

export function parseIPv4(text: string): bigint | null {
  if (!isIPv4(text)) return null;
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Expands any IPv6 text form (`::`, an embedded dotted quad, a zone id) into 128 bits. */
export function parseIPv6(text: string): bigint | null {
  const zone = text.indexOf('%');
  const bare = zone < 0 ? text : text.slice(0, zone);
  if (!isIPv6(bare)) return null;
  let body = bare;
  const lastColon = body.lastIndexOf(':');
  const last = body.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseIPv4(last);
    if (v4 === null) return null;
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, rest] = body.includes('::') ? body.split('::') : [body, undefined];
  const headGroups = head ? head.split(':') : [];
  const restGroups = rest ? rest.split(':') : [];
  const missing = 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...(rest !== undefined ? Array<string>(Math.max(0, missing)).fill('0') : []), ...restGroups].map((g) => parseInt(g, 16));
  if (groups.length !== 8 || groups.some((g) => Number.isNaN(g))) return null;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** An IP literal (IPv6 may be bracketed, as in URLs and our host field) or null for a host name. */
export function parseAddress(text: string): ParsedAddress | null {
  const unbracketed = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIPv4(unbracketed);
  if (v4 !== null) return { family: 4, value: v4 };
  const v6 = parseIPv6(unbracketed);
  if (v6 !== null) return { family: 6, value: v6 };
  return null;
}

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  prefix: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (a /32 or /128). */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (!address) return null;
  const width = address.family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(width) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > width) return null;
  return { family: address.family, base: address.value, prefix };
}

export function cidrContains(cidr: Cidr, address: ParsedAddress): boolean {
  if (cidr.family !== address.family) return false;
  const width = BigInt(cidr.family === 4 ? 32 : 128);
  const shift = width - BigInt(cidr.prefix);
  return cidr.base >> shift === address.value >> shift;
}

const range = (text: string, addressClass: AddressClass) => ({ cidr: parseCidr(text)!, addressClass });

/**
 * First match wins, so the narrow cloud-metadata entries come before the ranges that hold them.
 * Sources: RFC 6890 special-purpose registries (IANA), RFC 6598 (CGNAT), cloud provider docs.
 */
const IPV4_RANGES = [
  range('169.254.169.254/32', 'cloud_metadata'), // AWS, GCP, Azure, OpenStack, DigitalOcean…
  range('100.100.100.200/32', 'cloud_metadata'), // Alibaba Cloud
  range('192.0.0.192/32', 'cloud_metadata'), // Oracle Cloud (legacy)
  range('0.0.0.0/32', 'unspecified'),
  range('0.0.0.0/8', 'reserved'), // "this network": Linux dials 0.x as local
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'cgnat'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link_local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  range('192.0.2.0/24', 'reserved'), // documentation
  range('192.88.99.0/24', 'reserved'), // 6to4 relay anycast
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'reserved'), // benchmarking
  range('198.51.100.0/24', 'reserved'), // documentation
  range('203.0.113.0/24', 'reserved'), // documentation
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved'),
];

const IPV6_RANGES = [
  range('fd00:ec2::254/128', 'cloud_metadata'), // AWS IMDS over IPv6
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('100::/64', 'reserved'), // discard-only
  range('2001::/32', 'reserved'), // Teredo: hides an IPv4 address we cannot check reliably
  range('2001:db8::/32', 'reserved'), // documentation
  range('2001:10::/28', 'reserved'), // ORCHID
  range('2001:20::/28', 'reserved'), // ORCHIDv2
  range('64:ff9b:1::/48', 'private'), // local-use NAT64 (RFC 8215)
  range('fc00::/7', 'private'), // unique local
  range('fec0::/10', 'private'), // deprecated site-local, still routed locally by some stacks
  range('fe80::/10', 'link_local'),
  range('ff00::/8', 'multicast'),
  range('::/96', 'reserved'), // deprecated IPv4-compatible addresses
];

/** Prefixes that carry an IPv4 address the packet really goes to: judged by that address. */
const EMBEDDED_IPV4 = [
  { cidr: parseCidr('::ffff:0:0/96')!, extract: (v: bigint) => v & 0xffffffffn }, // IPv4-mapped
  { cidr: parseCidr('64:ff9b::/96')!, extract: (v: bigint) => v & 0xffffffffn }, // NAT64 well-known prefix
  { cidr: parseCidr('2002::/16')!, extract: (v: bigint) => (v >> 80n) & 0xffffffffn }, // 6to4
];

export function classifyParsed(address: ParsedAddress): AddressClass {
  if (address.family === 6) {
    for (const embedded of EMBEDDED_IPV4) {
      if (cidrContains(embedded.cidr, address)) return classifyParsed({ family: 4, value: embedded.extract(address.value) });
    }
  }
  const ranges = address.family === 4 ? IPV4_RANGES : IPV6_RANGES;
  for (const r of ranges) if (cidrContains(r.cidr, address)) return r.addressClass;
  return 'public';
}

/** Classifies an IP literal; throws for anything that is not one (host names must be resolved first). */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseAddress(ip);
  if (!parsed) throw new TypeError('not an IP address');
  return classifyParsed(parsed);
}
