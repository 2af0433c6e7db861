import { SignJWT, errors, jwtVerify } from 'jose';

export interface ClientIdentity {
  userId: string;
  /** Epoch seconds when the token stops being valid, when it has an `exp`. */
  expiresAt?: number;
}

/** Why a token was refused; callers answer every case alike (`unauthorized`) and may log this. */
export class InvalidClientTokenError extends Error {
  constructor(readonly reason: 'missing' | 'expired' | 'invalid') {
    super(`client token ${reason}`);
    this.name = 'InvalidClientTokenError';
  }
}

const keyFrom = (secret: string) => new TextEncoder().encode(secret);

/**
 * Verifies a client token: HS256 only (an `alg: none` or RS256-confusion token is refused), `exp`
 * and `nbf` honoured, `sub` is the user id.
 */
export async function verifyClientToken(token: string | undefined | null, secret: string): Promise<ClientIdentity> {
  if (!token) throw new InvalidClientTokenError('missing');
  try {
    const { payload } = await jwtVerify(token, keyFrom(secret), { algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) throw new InvalidClientTokenError('invalid');
    return payload.exp !== undefined ? { userId: payload.sub, expiresAt: payload.exp } : { userId: payload.sub };
  } catch (err) {
    if (err instanceof InvalidClientTokenError) throw err;
    throw new InvalidClientTokenError(err instanceof errors.JWTExpired ? 'expired' : 'invalid');
  }
}

/** Mints a client token, for local setups (`npm start`), tests and integrators' examples. */
export function signClientToken(userId: string, secret: string, options: { expiresInSeconds?: number } = {}): Promise<string> {
  const jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(userId).setIssuedAt();
  if (options.expiresInSeconds !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + options.expiresInSeconds);
  return jwt.sign(keyFrom(secret));
}
