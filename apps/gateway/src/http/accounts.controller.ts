import { BadRequestException, Body, ConflictException, Controller, Delete, Get, HttpCode, NotFoundException, Param, Patch, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiBody, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiQuery, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { AccountRepository } from '@pushmail/accounts';
import {
  AccountIdSchema,
  AccountView,
  CreateAccountBody,
  CreateAccountBodySchema,
  PatchAccountBody,
  PatchAccountBodySchema,
  PushAccessTokenBody,
  PushAccessTokenBodySchema,
} from '@pushmail/contracts';
import { MailCredentialProvider } from '@pushmail/credentials';
import { z } from 'zod';
import { AccountAdmission } from './account-admission.service';
import { AccountViewDto, CreateAccountDto, PatchAccountDto } from './account.dto';
import { AdminTokenGuard } from './admin-token.guard';
import { ZodValidationPipe } from './zod-validation.pipe';

const UserIdQuerySchema = z.string({ required_error: 'is required' }).min(1).max(256);

/** The admin API: accounts in, views out. A view never carries a secret. */
@ApiTags('accounts')
@ApiBearerAuth('admin')
@ApiUnauthorizedResponse({ description: 'missing or wrong admin token' })
@UseGuards(AdminTokenGuard)
@Controller('api/accounts')
export class AccountsController {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly admission: AccountAdmission,
    private readonly credentials: MailCredentialProvider,
  ) {}

  @Post()
  @ApiBody({ type: CreateAccountDto })
  @ApiCreatedResponse({ type: AccountViewDto })
  @ApiBadRequestResponse({ description: 'a bad field, or a mail host that resolves to an address this server may not connect to (field `imap.host` / `smtp.host`)' })
  @ApiConflictResponse({ description: 'the user already has MAX_ACCOUNTS_PER_USER accounts' })
  async create(@Body(new ZodValidationPipe(CreateAccountBodySchema)) body: CreateAccountBody): Promise<AccountView> {
    // The admin API is the operator's own: no hourly change limit here, only the account limit.
    await this.admission.checkAccountLimit(body.userId);
    await this.admission.checkHosts(body);
    return this.admission.createWithinLimit(body.userId, () => this.accounts.create(body), (id) => this.accounts.delete(id));
  }

  @Get()
  @ApiQuery({ name: 'userId', required: true })
  @ApiOkResponse({ type: [AccountViewDto] })
  list(@Query('userId', new ZodValidationPipe(UserIdQuerySchema, 'userId')) userId: string): Promise<AccountView[]> {
    return this.accounts.listForUser(userId);
  }

  @Get(':id')
  @ApiOkResponse({ type: AccountViewDto })
  @ApiNotFoundResponse()
  async get(@Param('id') id: string): Promise<AccountView> {
    return this.found(AccountIdSchema.safeParse(id).success ? await this.accounts.view(id) : null);
  }

  @Patch(':id')
  @ApiBody({ type: PatchAccountDto })
  @ApiOkResponse({ type: AccountViewDto })
  @ApiNotFoundResponse()
  @ApiBadRequestResponse({ description: 'a bad field, or a mail host this server may not connect to' })
  async update(@Param('id') id: string, @Body(new ZodValidationPipe(PatchAccountBodySchema)) body: PatchAccountBody): Promise<AccountView> {
    const protocol = AccountIdSchema.safeParse(id).success ? await this.accounts.protocolOf(id) : null;
    if (!protocol) throw new NotFoundException();
    checkFitsProtocol(protocol, body);
    await this.admission.checkHosts(body);
    return this.found(await this.accounts.update(id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  async remove(@Param('id') id: string): Promise<void> {
    if (!AccountIdSchema.safeParse(id).success || !(await this.accounts.delete(id))) throw new NotFoundException();
  }

  /**
   * The integrator's new access token for an account with `oauth2: { provider: 'external' }`
   * (IMAP or SMTP): every later login uses it until `expiresAt`. An account that went to
   * `auth_failed` for want of a token is retried at once.
   */
  @Put(':id/access-token')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  @ApiBadRequestResponse({ description: 'a bad field (`accessToken`, `expiresAt` in the past or not ISO 8601)' })
  @ApiConflictResponse({ description: 'the account does not use oauth2 provider external' })
  async pushAccessToken(@Param('id') id: string, @Body(new ZodValidationPipe(PushAccessTokenBodySchema)) body: PushAccessTokenBody): Promise<void> {
    const account = AccountIdSchema.safeParse(id).success ? await this.accounts.get(id) : null;
    if (!account) throw new NotFoundException();
    const servers = [account.smtp, 'imap' in account ? account.imap : account.pop3];
    if (!servers.some((s) => s?.oauth2?.provider === 'external')) {
      throw new ConflictException({ statusCode: 409, error: 'Conflict', message: 'this account does not use oauth2 provider external' });
    }
    const expiresAt = new Date(body.expiresAt);
    if (expiresAt.getTime() <= Date.now()) throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'expiresAt: is in the past', field: 'expiresAt' });
    await this.credentials.pushAccessToken(id, body.accessToken, expiresAt);
    if ((await this.accounts.getState(id))?.state === 'auth_failed') await this.accounts.publishChange({ accountId: id, change: 'updated' });
  }

  private found(view: AccountView | null): AccountView {
    if (!view) throw new NotFoundException();
    return view;
  }
}

/** 400 naming the field that does not fit the stored account: an account never changes protocol. */
function checkFitsProtocol(protocol: 'imap' | 'pop3', body: PatchAccountBody): void {
  const refuse = (field: string, message: string) => {
    throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: `${field}: ${message}`, field });
  };
  if (protocol === 'pop3') {
    if (body.imap) refuse('imap', 'this is a POP3 account: patch pop3 instead');
    if (body.mailboxes && (body.mailboxes.length !== 1 || body.mailboxes[0] !== 'INBOX')) refuse('mailboxes', 'POP3 accounts have only INBOX');
  } else {
    if (body.pop3) refuse('pop3', 'this is an IMAP account: patch imap instead');
    if (body.pollIntervalSeconds !== undefined) refuse('pollIntervalSeconds', 'only POP3 accounts are polled on an interval');
  }
}
