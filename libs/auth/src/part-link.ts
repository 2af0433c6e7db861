import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/** What a signed part URL is scoped to: one MIME part of one message of one account. */
export interface PartLinkScope {
  accountId: string;
  mailbox: string;
  uid: number;
  partId: string;
}

/** The longest a part link may live: a link that leaks (history, logs, a shared screen) dies soon. */
export const PART_LINK_MAX_TTL_SECONDS = 300;

export type PartLinkCheck = { ok: true } | { ok: false; code: 'expired' | 'invalid' };

/**
 * Signs and checks the `exp` + `sig` query parameters of part URLs, so a browser can load an
 * attachment or a `cid:` image without the client token in the URL. The HMAC key is derived from
 * AUTH_JWT_SECRET with HKDF under its own label, so the JWT key itself never signs anything else
 * and rotating AUTH_JWT_SECRET also voids every outstanding link.
 */
export class PartLinkSigner {
  private readonly key: Buffer;

  constructor(jwtSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', jwtSecret, 'pushmail', 'pushmail part links v1', 32));
  }

  /** The signature for `scope` valid until `expiresAt` (epoch seconds). */
  sign(scope: PartLinkScope, expiresAt: number): string {
    // JSON of a fixed array: no field can spill into the next (a mailbox holding a separator).
    const data = JSON.stringify(['v1', scope.accountId, scope.mailbox, scope.uid, scope.partId, expiresAt]);
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }

  check(scope: PartLinkScope, expiresAt: number, signature: string, nowSeconds = Date.now() / 1000): PartLinkCheck {
    if (!Number.isSafeInteger(expiresAt) || !/^[\w-]{43}$/.test(signature)) return { ok: false, code: 'invalid' };
    const expected = Buffer.from(this.sign(scope, expiresAt));
    if (!timingSafeEqual(expected, Buffer.from(signature))) return { ok: false, code: 'invalid' };
    // Checked after the signature, so nobody learns anything about a forged link's expiry, and a
    // link issued for longer than the maximum (a future bug) still dies within it.
    if (expiresAt <= nowSeconds || expiresAt > nowSeconds + PART_LINK_MAX_TTL_SECONDS + 5) return { ok: false, code: 'expired' };
    return { ok: true };
  }
}
