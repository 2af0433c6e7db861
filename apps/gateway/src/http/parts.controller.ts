import {
  BadGatewayException,
  Controller,
  ForbiddenException,
  Get,
  HttpException,
  HttpStatus,
  Logger,
  NotFoundException,
  Param,
  Query,
  Req,
  Res,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiNotFoundResponse, ApiOkResponse, ApiQuery, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { AccountRepository } from '@pushmail/accounts';
import { ClientTokenVerifier, PartLinkScope } from '@pushmail/auth';
import { MessagePartLinkRequestSchema, PartLink } from '@pushmail/contracts';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { PartSettings } from '../settings';
import { ImapMailboxService, OpenPart } from '../imap/imap-mailbox.service';
import { PartLinksService } from '../parts/part-links.service';
import { Pop3MessageTooLargeError, Pop3PartsService } from '../parts/pop3-parts.service';
import { WindowLimiter } from '../parts/window-limiter';
import { CommandError } from '../socket/ack';
import { ClientRequest, ClientTokenGuard, authenticateClient } from './client-token.guard';
import { contentDisposition, safeContentType } from './content-headers';

/** Every failure that is not "no such part on a connection that works" gets exactly this. */
const UNAVAILABLE = 'the part could not be fetched from the mail server';

/**
 * Attachment and inline-image downloads, streamed from IMAP as they arrive (never buffered whole);
 * POP3 parts come from Pop3PartsService (cut out of the whole message, which POP3 only can send).
 * A request carries either a signed link (`exp` + `sig`, from `message.partLink` or `…/link`) or
 * `Authorization: Bearer <client token>`.
 *
 * Why the gateway keeps its own IMAP login rather than routing through the fetcher's pool: a part
 * can be many MB and streams straight to the browser; through the fetcher it would have to be
 * staged in Redis, which is exactly the memory a user must not be able to fill. What made the old
 * fresh login a password oracle is closed instead: (1) the gateway never logs in with credentials
 * the watcher (behind its login limiter) found wrong: an `auth_failed` account is not tried at all;
 * (2) every failure other than "part not found on a working connection" (auth refused, connection
 * refused, timeout, TLS, protocol) is the same 502 with the same body, and the cause only goes to
 * the log; (3) downloads, hence gateway logins, are limited per user (PART_DOWNLOADS_PER_MINUTE).
 */
@ApiTags('messages')
@Controller('api/accounts/:id/messages/:mailbox/:uid/parts/:partId')
export class PartsController {
  private readonly logger = new Logger(PartsController.name);

  constructor(
    private readonly accounts: AccountRepository,
    private readonly imap: ImapMailboxService,
    private readonly pop3: Pop3PartsService,
    private readonly links: PartLinksService,
    private readonly verifier: ClientTokenVerifier,
    private readonly limiter: WindowLimiter,
    private readonly settings: PartSettings,
  ) {}

  @Get('link')
  @ApiBearerAuth('client')
  @UseGuards(ClientTokenGuard)
  @ApiOkResponse({ description: '`{ ok: true, url, expiresAt }`: a root-relative URL that needs no token until expiresAt (at most 5 minutes)' })
  @ApiNotFoundResponse({ description: 'no such account for this user' })
  async link(@Param('id') accountId: string, @Param('mailbox') mailbox: string, @Param('uid') uid: string, @Param('partId') partId: string, @Req() req: ClientRequest): Promise<{ ok: true } & PartLink> {
    const scope = parseScope(accountId, mailbox, uid, partId);
    if (!scope) throw new NotFoundException();
    try {
      return { ok: true, ...(await this.links.issue(req.userId, scope)) };
    } catch (err) {
      // Another user's account is answered exactly like a missing one.
      if (err instanceof CommandError && err.code === 'forbidden') throw new NotFoundException();
      throw err;
    }
  }

  @Get()
  @ApiBearerAuth('client')
  @ApiQuery({ name: 'exp', required: false, description: 'expiry of a signed link (from `message.partLink`)' })
  @ApiQuery({ name: 'sig', required: false, description: 'signature of a signed link' })
  @ApiOkResponse({ description: 'the part, with its Content-Type, an attachment Content-Disposition and Cache-Control: private, no-store' })
  @ApiUnauthorizedResponse({ description: 'no signed link and no valid bearer token, or a token in ?access_token=' })
  @ApiForbiddenResponse({ description: 'a signed link that expired or was made for another part' })
  @ApiNotFoundResponse({ description: 'no such part, message or account for this user' })
  async download(
    @Param('id') accountId: string,
    @Param('mailbox') mailbox: string,
    @Param('uid') uidParam: string,
    @Param('partId') partId: string,
    @Query('exp') exp: unknown,
    @Query('sig') sig: unknown,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    const scope = parseScope(accountId, mailbox, uidParam, partId);
    let userId: string | undefined;
    if (exp !== undefined || sig !== undefined) {
      if (req.query.access_token !== undefined) throw new UnauthorizedException();
      // The link's signature is its authority: it was issued to the account's owner (checked then).
      const checked = scope && typeof exp === 'string' && typeof sig === 'string' ? this.links.check(scope, exp, sig) : { ok: false as const, code: 'invalid' as const };
      if (!checked.ok) throw new ForbiddenException(checked.code === 'expired' ? 'this link has expired; ask for a new one' : 'this link is not valid for this part');
    } else {
      userId = await authenticateClient(this.verifier, req);
    }
    if (!scope) throw new NotFoundException();
    // Another user's account is answered exactly like a missing one.
    if (userId !== undefined && !(await this.accounts.isOwnedBy(scope.accountId, userId))) throw new NotFoundException();
    const account = await this.accounts.get(scope.accountId);
    if (!account) throw new NotFoundException();

    if (!(await this.limiter.take('part-download', account.userId, this.settings.downloadsPerMinute))) {
      throw new HttpException({ statusCode: 429, message: `at most ${this.settings.downloadsPerMinute} downloads per minute` }, HttpStatus.TOO_MANY_REQUESTS);
    }
    // Credentials the watcher found wrong are not tried again from here (see the class comment).
    if ((await this.accounts.getState(scope.accountId))?.state === 'auth_failed') throw new BadGatewayException(UNAVAILABLE);

    let part: OpenPart | null;
    try {
      // POP3: cut out of the kept raw message, else out of the message downloaded again (RETR).
      part = account.protocol === 'pop3' ? await this.pop3.openPart(account, scope.mailbox, scope.uid, scope.partId) : await this.imap.openPart(account.imap, scope.mailbox, scope.uid, scope.partId, account.id);
    } catch (err) {
      // Only reachable after a login that worked (the uid mapping exists once the watcher polled), so it may say why.
      if (err instanceof Pop3MessageTooLargeError) throw new BadGatewayException(`${err.message}; POP3 cannot fetch a single part`);
      this.logger.warn({ msg: `could not open part over ${account.protocol === 'pop3' ? 'POP3' : 'IMAP'}`, accountId: scope.accountId, err });
      throw new BadGatewayException(UNAVAILABLE);
    }
    if (!part) throw new NotFoundException();

    res.status(200);
    res.setHeader('Content-Type', safeContentType(part.contentType));
    res.setHeader('Content-Disposition', contentDisposition(part.filename ?? `part-${scope.partId}`));
    // An HTML or SVG attachment opened directly must not run script in the gateway's origin.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox");
    // Mail is private: no shared cache may keep it, and the browser must not write it to disk.
    res.setHeader('Cache-Control', 'private, no-store');
    try {
      await pipeline(part.content, res);
    } catch (err) {
      // The client went away or the server dropped us mid-part: nothing more can be sent.
      this.logger.debug({ msg: 'part download ended early', accountId: scope.accountId, err });
      part.close();
      if (!res.headersSent) res.status(502).end();
      else res.destroy();
    }
  }
}

function parseScope(accountId: string, mailbox: string, uid: string, partId: string): PartLinkScope | undefined {
  if (!/^\d{1,10}$/.test(uid)) return undefined;
  const parsed = MessagePartLinkRequestSchema.safeParse({ accountId, mailbox, uid: Number(uid), partId });
  return parsed.success ? parsed.data : undefined;
}
