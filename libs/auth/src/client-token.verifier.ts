import { Injectable } from '@nestjs/common';
import { ConfigService } from '@pushmail/config';
import { ClientIdentity, verifyClientToken } from './client-token';

interface AuthEnv {
  AUTH_JWT_SECRET?: string;
}

/** Verifies client tokens with the app's AUTH_JWT_SECRET. */
@Injectable()
export class ClientTokenVerifier {
  private readonly secret: string;

  constructor(config: ConfigService) {
    const secret = (config.env as unknown as AuthEnv).AUTH_JWT_SECRET;
    if (!secret) throw new Error('AUTH_JWT_SECRET is required by this app');
    this.secret = secret;
  }

  verify(token: string | undefined | null): Promise<ClientIdentity> {
    return verifyClientToken(token, this.secret);
  }
}
