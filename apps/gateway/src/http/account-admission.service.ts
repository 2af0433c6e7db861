import { BadRequestException, ConflictException, HttpException, HttpStatus, Injectable, Logger } from '@nestjs/common';
import { KEY_PREFIX, Pop3Settings, ServerSettings, redisKeys } from '@pushmail/contracts';
import { MailNetworkSettings } from '@pushmail/net-policy';
import { RedisService } from '@pushmail/redis';
import { AccountLimits } from '../settings';

const HOUR_SECONDS = 3600;

/**
 * What an account must pass before it is stored: its mail hosts resolve only to addresses the
 * operator allows (400 naming the field), the user stays under MAX_ACCOUNTS_PER_USER (409), and
 * creations and deletions stay under ACCOUNT_CHANGES_PER_HOUR per user (429), so the API can be
 * used neither to scan the internal network nor to churn watcher sessions.
 */
@Injectable()
export class AccountAdmission {
  private readonly logger = new Logger(AccountAdmission.name);

  constructor(
    private readonly redis: RedisService,
    private readonly network: MailNetworkSettings,
    private readonly limits: AccountLimits,
  ) {}

  /**
   * 400 naming `imap.host` / `smtp.host` when a host does not resolve or resolves to a forbidden
   * address. Both get the same message: telling them apart would let users probe internal DNS.
   * The connections themselves check again, on the address they dial (DNS rebinding).
   */
  async checkHosts(servers: { imap?: ServerSettings; pop3?: Pop3Settings; smtp?: ServerSettings; pollIntervalSeconds?: number }): Promise<void> {
    this.checkPollInterval(servers.pollIntervalSeconds);
    for (const field of ['imap', 'pop3', 'smtp'] as const) {
      const settings = servers[field];
      if (!settings) continue;
      // A custom OAuth token endpoint is a host the user names too: the same rule (checked again before each refresh).
      const oauth2 = 'oauth2' in settings ? settings.oauth2 : undefined;
      const targets: Array<[string, string]> = [[`${field}.host`, settings.host]];
      if (oauth2?.provider === 'custom') targets.push([`${field}.oauth2.tokenUrl`, new URL(oauth2.tokenUrl).hostname.replace(/^\[|\]$/g, '')]);
      for (const [name, host] of targets) await this.checkHost(name, host);
    }
  }

  private async checkHost(name: string, host: string): Promise<void> {
    const check = await this.network.policy.resolveAndCheck(host);
    if (check.ok) return;
    this.logger.warn({ msg: 'account mail host refused', field: name, host, ...check });
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: `${name}: is not an allowed mail server (it must resolve to a public address this server may connect to)`,
      field: name,
    });
  }

  /** 400 naming `pollIntervalSeconds` below POP3_MIN_POLL_SECONDS: every poll is a login on the user's server. */
  private checkPollInterval(seconds: number | undefined): void {
    const min = this.limits.pop3MinPollSeconds;
    if (seconds === undefined || seconds >= min) return;
    throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `pollIntervalSeconds: must be at least ${min}`, field: 'pollIntervalSeconds' });
  }

  /** 409 once the user already has MAX_ACCOUNTS_PER_USER accounts. */
  async checkAccountLimit(userId: string): Promise<void> {
    const max = this.limits.maxPerUser;
    const count = await this.redis.client.scard(redisKeys.userAccounts(userId));
    if (count >= max) throw this.overLimit(max);
  }

  /**
   * Creates through `create`, then counts again: two creations racing past {@link checkAccountLimit}
   * could otherwise both land. The one that finds the user over the limit takes its account back
   * (in a close race both may, which refuses one too many rather than admitting one too many).
   */
  async createWithinLimit<T extends { id: string }>(userId: string, create: () => Promise<T>, remove: (id: string) => Promise<unknown>): Promise<T> {
    await this.checkAccountLimit(userId);
    const created = await create();
    const max = this.limits.maxPerUser;
    if ((await this.redis.client.scard(redisKeys.userAccounts(userId))) <= max) return created;
    await remove(created.id);
    throw this.overLimit(max);
  }

  private overLimit(max: number): ConflictException {
    return new ConflictException({ statusCode: 409, error: 'Conflict', message: `at most ${max} accounts per user` });
  }

  /**
   * Counts one account creation or deletion of the user in a fixed one-hour window kept in Redis
   * (shared by every gateway replica); 429 past ACCOUNT_CHANGES_PER_HOUR. Refused attempts count
   * too, so host probing through 400 answers is throttled as well.
   */
  async takeChange(userId: string): Promise<void> {
    const max = this.limits.changesPerHour;
    const key = `${KEY_PREFIX}:account-changes:${userId}`;
    const [[, count], [, ttl]] = (await this.redis.client.multi().incr(key).expire(key, HOUR_SECONDS, 'NX').ttl(key).exec()) as [[null, number], [null, number], [null, number]];
    if (count <= max) return;
    throw new HttpException(
      { statusCode: 429, error: 'Too Many Requests', message: `at most ${max} account creations and deletions per hour`, retryAfterSeconds: Math.max(1, ttl) },
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}
