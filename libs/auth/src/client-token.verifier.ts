import { Injectable } from '@nestjs/common';
import { BaseEnv, ConfigService } from '@pushmail/config';
import { ClientIdentity, ClientTokenChecks, verifyClientToken } from './client-token';

interface AuthEnv {
  AUTH_JWT_SECRET?: string;
  AUTH_JWT_AUDIENCE?: string;
  AUTH_JWT_ISSUER?: string;
}

/** Verifies client tokens with the app's AUTH_JWT_SECRET, and its audience and issuer when set. */
@Injectable()
export class ClientTokenVerifier {
  private readonly secret: string;
  private readonly checks: ClientTokenChecks;

  constructor(config: ConfigService<BaseEnv & AuthEnv>) {
    const { env } = config;
    if (!env.AUTH_JWT_SECRET) throw new Error('AUTH_JWT_SECRET is required by this app');
    this.secret = env.AUTH_JWT_SECRET;
    this.checks = { audience: env.AUTH_JWT_AUDIENCE || undefined, issuer: env.AUTH_JWT_ISSUER || undefined };
  }

  verify(token: string | undefined | null): Promise<ClientIdentity> {
    return verifyClientToken(token, this.secret, this.checks);
  }
}
