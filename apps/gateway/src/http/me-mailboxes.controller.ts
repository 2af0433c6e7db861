import {
  BadGatewayException,
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Get,
  HttpCode,
  HttpException,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBadGatewayResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiQuery,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import {
  MailboxInfo,
  MailboxListRequestSchema,
  MessageDeleteRequestSchema,
  MessageListRequestSchema,
  MessageMoveRequestSchema,
  MessagePage,
  MessageSearchRequestSchema,
  MovedMessage,
} from '@pushmail/contracts';
import type { ZodType, ZodTypeDef } from 'zod';
import { ImapCommandService } from '../commands/imap-command.service';
import { CommandError, describeZodError } from '../socket/ack';
import { ClientRequest, ClientTokenGuard } from './client-token.guard';

const MAILBOX_PARAM = { name: 'mailbox', description: 'the folder path, URL-encoded (`INBOX`, `Archive%2F2024`)' };

/**
 * The mailbox commands over HTTP for integrators, with the client token: the same contract
 * schemas, the same ownership check (403 for another user's or an unknown account) and the same
 * fetcher round trip as the Socket.IO commands.
 */
@ApiTags('user')
@ApiBearerAuth('client')
@ApiUnauthorizedResponse({ description: 'missing, invalid or expired client token' })
@ApiForbiddenResponse({ description: "another user's account, or no such account" })
@ApiBadGatewayResponse({ description: 'the mail server failed or did not answer in time' })
@UseGuards(ClientTokenGuard)
@Controller('api/me/accounts/:id/mailboxes')
export class MeMailboxesController {
  constructor(private readonly commands: ImapCommandService) {}

  @Get()
  @ApiOkResponse({ description: '`{ mailboxes: [{ path, name, delimiter, parent, specialUse, subscribed, messages, unseen, uidNext, uidValidity, watched }] }`' })
  mailboxes(@Req() req: ClientRequest, @Param('id') id: string): Promise<{ mailboxes: MailboxInfo[] }> {
    const body = valid(MailboxListRequestSchema, { accountId: id });
    return answer(() => this.commands.mailboxes(req.userId, body));
  }

  @Get(':mailbox/messages')
  @ApiParam(MAILBOX_PARAM)
  @ApiQuery({ name: 'before', required: false, description: 'a UID: only older messages (exclusive); the `nextBefore` of the previous page' })
  @ApiQuery({ name: 'limit', required: false, description: '1–200, default 50' })
  @ApiOkResponse({ description: '`{ messages: [summary…], nextBefore, total }`, newest first by UID' })
  @ApiBadRequestResponse({ description: 'a bad parameter, named in `field`' })
  @ApiNotFoundResponse({ description: 'no such folder' })
  list(@Req() req: ClientRequest, @Param('id') id: string, @Param('mailbox') mailbox: string, @Query() query: Record<string, unknown>): Promise<MessagePage> {
    const body = valid(MessageListRequestSchema, { accountId: id, mailbox, before: int(query.before), limit: int(query.limit) });
    return answer(() => this.commands.list(req.userId, body));
  }

  @Get(':mailbox/search')
  @ApiParam(MAILBOX_PARAM)
  @ApiQuery({ name: 'text', required: false })
  @ApiQuery({ name: 'from', required: false })
  @ApiQuery({ name: 'to', required: false })
  @ApiQuery({ name: 'subject', required: false })
  @ApiQuery({ name: 'unseen', required: false, description: 'true or false' })
  @ApiQuery({ name: 'flagged', required: false, description: 'true or false' })
  @ApiQuery({ name: 'since', required: false, description: 'YYYY-MM-DD: received on or after' })
  @ApiQuery({ name: 'before', required: false, description: 'YYYY-MM-DD: received before' })
  @ApiQuery({ name: 'beforeUid', required: false, description: 'paging: the `nextBefore` of the previous page' })
  @ApiQuery({ name: 'limit', required: false, description: '1–200, default 50' })
  @ApiOkResponse({ description: 'as the message list: `{ messages, nextBefore, total }`' })
  @ApiBadRequestResponse({ description: 'a bad parameter, or none of the search fields, named in `field`' })
  search(@Req() req: ClientRequest, @Param('id') id: string, @Param('mailbox') mailbox: string, @Query() query: Record<string, unknown>): Promise<MessagePage> {
    const { beforeUid, limit, unseen, flagged, ...terms } = query;
    const body = valid(MessageSearchRequestSchema, {
      accountId: id,
      mailbox,
      query: { ...terms, unseen: bool(unseen), flagged: bool(flagged) },
      before: int(beforeUid),
      limit: int(limit),
    });
    return answer(() => this.commands.search(req.userId, body));
  }

  @Post(':mailbox/messages/move')
  @HttpCode(200)
  @ApiParam(MAILBOX_PARAM)
  @ApiBody({ schema: { type: 'object', required: ['uids', 'to'], properties: { uids: { type: 'array', items: { type: 'integer' }, maxItems: 500 }, to: { type: 'string' } } } })
  @ApiOkResponse({ description: '`{ moved: [{ uid, newUid }] }` once the server has moved them (`newUid` null without COPYUID)' })
  @ApiBadRequestResponse({ description: 'a bad field, named in `field`' })
  @ApiNotFoundResponse({ description: 'no such folder (source or target)' })
  move(@Req() req: ClientRequest, @Param('id') id: string, @Param('mailbox') mailbox: string, @Body() raw: unknown): Promise<{ moved: MovedMessage[] }> {
    const body = valid(MessageMoveRequestSchema, { ...asObject(raw), accountId: id, mailbox });
    return answer(() => this.commands.move(req.userId, body));
  }

  @Post(':mailbox/messages/delete')
  @HttpCode(200)
  @ApiParam(MAILBOX_PARAM)
  @ApiBody({ schema: { type: 'object', required: ['uids'], properties: { uids: { type: 'array', items: { type: 'integer' }, maxItems: 500 }, permanent: { type: 'boolean' } } } })
  @ApiOkResponse({ description: '`{}` once the server moved them to the Trash folder, or expunged them (in the Trash, or `permanent`)' })
  @ApiBadRequestResponse({ description: 'a bad field, named in `field`' })
  @ApiNotFoundResponse({ description: 'no such folder' })
  delete(@Req() req: ClientRequest, @Param('id') id: string, @Param('mailbox') mailbox: string, @Body() raw: unknown): Promise<object> {
    const body = valid(MessageDeleteRequestSchema, { ...asObject(raw), accountId: id, mailbox });
    return answer(() => this.commands.delete(req.userId, body));
  }
}

/** The contract's schema decides; a 400 names the first bad field, as the socket's `bad_request` does. */
function valid<T>(schema: ZodType<T, ZodTypeDef, unknown>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const { field, message } = describeZodError(result.error);
  throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message, field });
}

/** Query strings are text: digits become a number, anything else stays as it is for the schema to refuse by name. */
function int(value: unknown): unknown {
  return typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
}

function bool(value: unknown): unknown {
  return value === 'true' ? true : value === 'false' ? false : value;
}

function asObject(raw: unknown): object {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? raw : {};
}

async function answer<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    switch (err.code) {
      case 'forbidden':
        throw new ForbiddenException(err.message);
      case 'not_found':
        throw new NotFoundException(err.message);
      case 'bad_request':
        throw new BadRequestException(err.message);
      case 'rate_limited':
        throw new HttpException(err.message, HttpStatus.TOO_MANY_REQUESTS);
      default:
        throw new BadGatewayException(err.message);
    }
  }
}
