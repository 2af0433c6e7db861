import { CanActivate, ExecutionContext, HttpException, HttpStatus, Injectable, Logger, UnauthorizedException } from '@nestjs/common';
import { bearerToken, secretsMatch } from '@pushmail/auth';
import type { Request } from 'express';
import { AdminSettings } from '../settings';
import { WindowLimiter } from '../parts/window-limiter';

/**
 * The admin API takes exactly `Authorization: Bearer $ADMIN_TOKEN`, compared in constant time.
 * Failed attempts are counted per source IP in Redis (shared by every gateway replica, so adding
 * replicas does not multiply an attacker's guesses); past ADMIN_AUTH_FAILURES_PER_MINUTE the IP
 * gets 429 without its token even being compared, until the minute is over.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly logger = new Logger(AdminTokenGuard.name);

  constructor(
    private readonly settings: AdminSettings,
    private readonly limiter: WindowLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Request>();
    const source = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const limit = this.settings.authFailuresPerMinute;
    if ((await this.limiter.peek('admin-auth-failures', source)) >= limit) throw tooMany();
    if (secretsMatch(bearerToken(req.headers.authorization), this.settings.token)) return true;
    if (!(await this.limiter.take('admin-auth-failures', source, limit))) {
      this.logger.warn({ msg: 'admin authentication throttled', source });
      throw tooMany();
    }
    throw new UnauthorizedException();
  }
}

const tooMany = () => new HttpException({ statusCode: 429, message: 'too many failed admin authentications; retry in a minute' }, HttpStatus.TOO_MANY_REQUESTS);
