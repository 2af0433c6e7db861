import { lookup } from 'node:dns/promises';
import { AddressClass, Cidr, cidrContains, classifyParsed, parseAddress, parseCidr } from './ip-address';

/** Every address a host name resolves to (A and AAAA), in the resolver's order. */
export type HostResolver = (host: string) => Promise<string[]>;

/** getaddrinfo, as the socket itself would resolve (so /etc/hosts counts, e.g. `localhost`). */
export const systemResolver: HostResolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export interface MailHostPolicyOptions {
  /** ALLOW_PRIVATE_MAIL_HOSTS: any address may be dialled. */
  allowPrivate: boolean;
  /** MAIL_HOST_ALLOWLIST: host names (`mail.corp`, or `*.corp` for its subdomains) and CIDRs/addresses. */
  allowlist: readonly string[];
  resolver?: HostResolver;
  resolveTimeoutMs?: number;
}

/** Where to dial: an IP, plus the name TLS must verify (absent when the user gave an IP). */
export interface DialTarget {
  address: string;
  family: 4 | 6;
  servername?: string;
}

export type HostCheck =
  | ({ ok: true } & DialTarget)
  | { ok: false; code: 'host_not_allowed'; address: string; addressClass: AddressClass }
  | { ok: false; code: 'host_unresolvable' };

export type HostRefusal = Exclude<HostCheck, { ok: true }>;

/** Thrown at connect time when the address about to be dialled is not allowed (or none exists). */
export class MailHostRefusedError extends Error {
  constructor(
    readonly host: string,
    readonly refusal: HostRefusal,
  ) {
    super(refusal.code === 'host_not_allowed' ? `mail host ${host} resolves to a ${refusal.addressClass} address (${refusal.address})` : `mail host ${host} does not resolve`);
    this.name = 'MailHostRefusedError';
  }
}

const normalizeName = (host: string) => host.toLowerCase().replace(/\.$/, '');

/**
 * Users name the hosts pushmail connects to, so without this check the servers would dial into
 * their own network on a user's behalf (internal services, cloud metadata) and tell open ports
 * from closed ones. Every address of a host must be allowed, not only the first: the socket may
 * pick another one, and a resolver can rotate answers. The check runs when an account is saved
 * and again right before every connection, on the very address that is then dialled, so a name
 * that is re-pointed later (DNS rebinding) gains nothing.
 */
export class MailHostPolicy {
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly cidrs: Cidr[] = [];
  private readonly resolver: HostResolver;
  private readonly resolveTimeoutMs: number;

  constructor(private readonly options: MailHostPolicyOptions) {
    for (const entry of options.allowlist) {
      const cidr = parseCidr(entry);
      if (cidr) this.cidrs.push(cidr);
      else if (entry.startsWith('*.')) this.suffixes.push(normalizeName(entry.slice(1)));
      else this.names.add(normalizeName(entry));
    }
    this.resolver = options.resolver ?? systemResolver;
    this.resolveTimeoutMs = options.resolveTimeoutMs ?? 10_000;
  }

  /** Resolves once, checks every address, and returns the one to dial. */
  async resolveAndCheck(host: string): Promise<HostCheck> {
    const literal = parseAddress(host);
    const nameAllowed = !literal && this.isAllowedName(host);
    let addresses: string[];
    if (literal) addresses = [host.startsWith('[') ? host.slice(1, -1) : host];
    else {
      try {
        addresses = await this.resolve(host);
      } catch {
        return { ok: false, code: 'host_unresolvable' };
      }
    }
    const parsed = addresses.map((a) => ({ text: a, address: parseAddress(a) }));
    if (!parsed.length || parsed.some((p) => !p.address)) return { ok: false, code: 'host_unresolvable' };
    if (!this.options.allowPrivate && !nameAllowed) {
      for (const { text, address } of parsed) {
        const addressClass = classifyParsed(address!);
        if (addressClass !== 'public' && !this.cidrs.some((c) => cidrContains(c, address!))) return { ok: false, code: 'host_not_allowed', address: text, addressClass };
      }
    }
    const chosen = parsed[0];
    return { ok: true, address: chosen.text, family: chosen.address!.family, ...(literal ? {} : { servername: normalizeName(host) }) };
  }

  /** {@link resolveAndCheck} for a connection about to be made: throws {@link MailHostRefusedError} when refused. */
  async dialTarget(host: string): Promise<DialTarget> {
    const check = await this.resolveAndCheck(host);
    if (!check.ok) throw new MailHostRefusedError(host, check);
    const { address, family, servername } = check;
    return servername ? { address, family, servername } : { address, family };
  }

  private isAllowedName(host: string): boolean {
    const name = normalizeName(host);
    return this.names.has(name) || this.suffixes.some((s) => name.endsWith(s));
  }

  private async resolve(host: string): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.resolver(host),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('resolve timed out')), this.resolveTimeoutMs))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}
