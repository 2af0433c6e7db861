import { SignJWT, errors, jwtVerify } from 'jose';

export interface ClientIdentity {
  userId: string;
  /** Epoch seconds when the token stops being valid (every accepted token has an `exp`). */
  expiresAt: number;
}

/** Why a token was refused; callers answer every case alike (`unauthorized`) and may log this. */
export class InvalidClientTokenError extends Error {
  constructor(readonly reason: 'missing' | 'expired' | 'invalid') {
    super(`client token ${reason}`);
    this.name = 'InvalidClientTokenError';
  }
}

/** Claims checked beyond the signature, when the operator sets them (AUTH_JWT_AUDIENCE, AUTH_JWT_ISSUER). */
export interface ClientTokenChecks {
  audience?: string;
  issuer?: string;
}

const keyFrom = (secret: string) => new TextEncoder().encode(secret);

/**
 * Verifies a client token: HS256 only (an `alg: none` or RS256-confusion token is refused), `exp`
 * required (a token that never expires cannot be contained once stolen), `nbf` honoured, `aud` and
 * `iss` checked when configured, `sub` is the user id.
 */
export async function verifyClientToken(token: string | undefined | null, secret: string, checks: ClientTokenChecks = {}): Promise<ClientIdentity> {
  if (!token) throw new InvalidClientTokenError('missing');
  try {
    const { payload } = await jwtVerify(token, keyFrom(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['exp'],
      ...(checks.audience ? { audience: checks.audience } : {}),
      ...(checks.issuer ? { issuer: checks.issuer } : {}),
    });
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || typeof payload.exp !== 'number') throw new InvalidClientTokenError('invalid');
    return { userId: payload.sub, expiresAt: payload.exp };
  } catch (err) {
    if (err instanceof InvalidClientTokenError) throw err;
    throw new InvalidClientTokenError(err instanceof errors.JWTExpired ? 'expired' : 'invalid');
  }
}

/** Mints a client token, for local setups (`npm start`), tests and integrators' examples. */
export function signClientToken(
  userId: string,
  secret: string,
  options: { expiresInSeconds?: number; audience?: string; issuer?: string } = {},
): Promise<string> {
  // Tokens without `exp` are refused, so one is always set (an hour unless told otherwise).
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.expiresInSeconds ?? 3600));
  if (options.audience) jwt.setAudience(options.audience);
  if (options.issuer) jwt.setIssuer(options.issuer);
  return jwt.sign(keyFrom(secret));
}
