import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { bearerToken, secretsMatch } from '@pushmail/auth';
import { ConfigService } from '@pushmail/config';
import type { Request } from 'express';
import { GatewayEnv } from '../config';

/** The admin API takes exactly `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time. */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  constructor(private readonly config: ConfigService<GatewayEnv>) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (!secretsMatch(bearerToken(req.headers.authorization), this.config.get('ADMIN_TOKEN'))) throw new UnauthorizedException();
    return true;
  }
}
