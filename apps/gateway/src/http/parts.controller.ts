import { BadGatewayException, Controller, Get, Logger, NotFoundException, Param, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import { AccountRepository } from '@pushmail/accounts';
import { AccountIdSchema, MailboxNameSchema } from '@pushmail/contracts';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { ImapMailboxService } from '../imap/imap-mailbox.service';
import { ClientRequest, ClientTokenGuard } from './client-token.guard';
import { contentDisposition, safeContentType } from './content-headers';

const PART_ID = /^\d+(\.\d+)*$/;

/** Attachment and inline-image downloads, streamed from IMAP as they arrive (never buffered whole). */
@ApiTags('messages')
@ApiBearerAuth('client')
@UseGuards(ClientTokenGuard)
@Controller('api/accounts/:id/messages/:mailbox/:uid/parts/:partId')
export class PartsController {
  private readonly logger = new Logger(PartsController.name);

  constructor(
    private readonly accounts: AccountRepository,
    private readonly imap: ImapMailboxService,
  ) {}

  @Get()
  @ApiQuery({ name: 'access_token', required: false, description: 'the client token, for links that cannot send headers' })
  @ApiOkResponse({ description: 'the part, with its Content-Type and an attachment Content-Disposition' })
  @ApiNotFoundResponse({ description: 'no such part, message or account for this user' })
  async download(
    @Param('id') accountId: string,
    @Param('mailbox') mailbox: string,
    @Param('uid') uidParam: string,
    @Param('partId') partId: string,
    @Req() req: ClientRequest,
    @Res() res: Response,
  ): Promise<void> {
    const uid = Number(uidParam);
    const valid = AccountIdSchema.safeParse(accountId).success && MailboxNameSchema.safeParse(mailbox).success && /^\d+$/.test(uidParam) && uid > 0 && PART_ID.test(partId);
    // Another user's account is answered exactly like a missing one.
    if (!valid || !(await this.accounts.isOwnedBy(accountId, req.userId))) throw new NotFoundException();
    const account = await this.accounts.get(accountId);
    if (!account) throw new NotFoundException();

    let part;
    try {
      part = await this.imap.openPart(account.imap, mailbox, uid, partId);
    } catch (err) {
      this.logger.warn({ msg: 'could not open part over IMAP', accountId, err });
      throw new BadGatewayException('the mail server did not answer');
    }
    if (!part) throw new NotFoundException();

    res.status(200);
    res.setHeader('Content-Type', safeContentType(part.contentType));
    res.setHeader('Content-Disposition', contentDisposition(part.filename ?? `part-${partId}`));
    // An HTML or SVG attachment opened directly must not run script in the gateway's origin.
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox");
    res.setHeader('Cache-Control', 'private, max-age=3600');
    try {
      await pipeline(part.content, res);
    } catch (err) {
      // The client went away or the server dropped us mid-part: nothing more can be sent.
      this.logger.debug({ msg: 'part download ended early', accountId, err });
      part.close();
      if (!res.headersSent) res.status(502).end();
      else res.destroy();
    }
  }
}
