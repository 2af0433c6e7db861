import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { ClientTokenVerifier, bearerToken } from '@pushmail/auth';
import type { Request } from 'express';

export interface ClientRequest extends Request {
  userId: string;
}

/**
 * Client routes take the client token as `Authorization: Bearer` only. A token in the URL
 * (`?access_token=`, accepted before signed part links existed) ends up in browser history, proxy
 * logs and Referer headers, so it is refused outright (401), even next to a valid header, so that
 * an integrator still sending it notices at once. Browsers use signed part links instead.
 */
@Injectable()
export class ClientTokenGuard implements CanActivate {
  constructor(private readonly verifier: ClientTokenVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<ClientRequest>();
    req.userId = await authenticateClient(this.verifier, req);
    return true;
  }
}

/** The user id of a request's bearer token; 401 for none, a bad one, or one in `?access_token=`. */
export async function authenticateClient(verifier: ClientTokenVerifier, req: Request): Promise<string> {
  if (req.query.access_token !== undefined) throw new UnauthorizedException('a client token in the URL is refused: send it as Authorization: Bearer, or use a signed part link');
  try {
    return (await verifier.verify(bearerToken(req.headers.authorization))).userId;
  } catch {
    throw new UnauthorizedException();
  }
}
