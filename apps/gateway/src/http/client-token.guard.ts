import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { ClientTokenVerifier, bearerToken } from '@pushmail/auth';
import type { Request } from 'express';

export interface ClientRequest extends Request {
  userId: string;
}

/**
 * Client routes take the client token as a bearer header, or as `?access_token=` because an
 * `<img src>` or a download link cannot carry headers.
 */
@Injectable()
export class ClientTokenGuard implements CanActivate {
  constructor(private readonly verifier: ClientTokenVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ClientRequest>();
    const queryToken = typeof req.query.access_token === 'string' ? req.query.access_token : undefined;
    try {
      req.userId = (await this.verifier.verify(bearerToken(req.headers.authorization) ?? queryToken)).userId;
      return true;
    } catch {
      throw new UnauthorizedException();
    }
  }
}
