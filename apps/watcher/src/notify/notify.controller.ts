import { BadRequestException, Body, Controller, Headers, HttpCode, Post, UnauthorizedException } from '@nestjs/common';
import { MailNotificationBodySchema, MailNotificationResult } from '@pushmail/contracts';
import { NotifySourceMatcher } from './notify-sources';
import { NotifyMetrics } from './notify.metrics';
import { NotifyService } from './notify.service';

/**
 * `POST /api/notify/dovecot`: a mail server's push notifications (deploy/dovecot/pushmail-notify.lua).
 * Answers 202 once the fetch jobs are in Redis; the sender does not retry (IDLE is the safety net).
 */
@Controller('api/notify')
export class NotifyController {
  constructor(
    private readonly matcher: NotifySourceMatcher,
    private readonly notify: NotifyService,
    private readonly metrics: NotifyMetrics,
  ) {}

  @Post('dovecot')
  @HttpCode(202)
  async dovecot(@Headers('authorization') authorization: string | undefined, @Body() body: unknown): Promise<MailNotificationResult> {
    const source = this.matcher.match(authorization);
    if (!source) {
      this.metrics.rejected.inc({ reason: 'unauthorized' });
      throw new UnauthorizedException();
    }
    const parsed = MailNotificationBodySchema.safeParse(body);
    if (!parsed.success) {
      this.metrics.rejected.inc({ reason: 'bad_request' });
      throw new BadRequestException({ error: 'bad_request', message: describe(parsed.error.issues, body) });
    }
    return this.notify.ingest(source, Array.isArray(parsed.data) ? parsed.data : [parsed.data]);
  }
}

/** Names the first offending field (`[3].uid: …`); a union error is reported against the branch the body took. */
function describe(issues: import('zod').ZodIssue[], body: unknown): string {
  let issue = issues[0];
  if (issue?.code === 'invalid_union') {
    const branch = issue.unionErrors[Array.isArray(body) ? 1 : 0];
    issue = branch?.issues[0] ?? issue;
  }
  if (!issue) return 'invalid body';
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  return `${path || 'body'}: ${issue.message}`;
}
