import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Req, UseGuards } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiBody, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiTags, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { AccountRepository } from '@pushmail/accounts';
import { AccountIdSchema, AccountView, CreateAccountFieldsSchema, requireOneIncoming } from '@pushmail/contracts';
import { z } from 'zod';
import { AccountAdmission } from './account-admission.service';
import { AccountViewDto, CreateAccountDto } from './account.dto';
import { ClientRequest, ClientTokenGuard } from './client-token.guard';
import { ZodValidationPipe } from './zod-validation.pipe';

/** A signed-in user adds their own mailbox: the owner is the token's subject, never the body's. */
const NewOwnAccountSchema = requireOneIncoming(CreateAccountFieldsSchema.omit({ userId: true }).strict());
type NewOwnAccount = z.infer<typeof NewOwnAccountSchema>;

/**
 * The user API (an extension, see docs/protocol.md): the web client lists, adds and removes the
 * signed-in user's own accounts with the client token. Other users' accounts are invisible (404).
 */
@ApiTags('user')
@ApiBearerAuth('client')
@ApiUnauthorizedResponse({ description: 'missing, invalid or expired client token' })
@UseGuards(ClientTokenGuard)
@Controller('api/me/accounts')
export class MeAccountsController {
  constructor(
    private readonly accounts: AccountRepository,
    private readonly admission: AccountAdmission,
  ) {}

  @Get()
  @ApiOkResponse({ type: [AccountViewDto] })
  list(@Req() req: ClientRequest): Promise<AccountView[]> {
    return this.accounts.listForUser(req.userId);
  }

  @Post()
  @ApiBody({ type: CreateAccountDto, description: 'as the admin API, without userId' })
  @ApiCreatedResponse({ type: AccountViewDto })
  @ApiBadRequestResponse({ description: 'a bad field, or a mail host that resolves to an address this server may not connect to (field `imap.host` / `smtp.host`)' })
  @ApiConflictResponse({ description: 'the user already has MAX_ACCOUNTS_PER_USER accounts' })
  @ApiTooManyRequestsResponse({ description: 'more than ACCOUNT_CHANGES_PER_HOUR account creations and deletions this hour' })
  async create(@Req() req: ClientRequest, @Body(new ZodValidationPipe(NewOwnAccountSchema)) body: NewOwnAccount): Promise<AccountView> {
    await this.admission.takeChange(req.userId);
    await this.admission.checkAccountLimit(req.userId);
    await this.admission.checkHosts(body);
    return this.admission.createWithinLimit(req.userId, () => this.accounts.create({ ...body, userId: req.userId }), (id) => this.accounts.delete(id));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  @ApiTooManyRequestsResponse({ description: 'more than ACCOUNT_CHANGES_PER_HOUR account creations and deletions this hour' })
  async remove(@Req() req: ClientRequest, @Param('id') id: string): Promise<void> {
    if (!AccountIdSchema.safeParse(id).success || !(await this.accounts.isOwnedBy(id, req.userId))) throw new NotFoundException();
    await this.admission.takeChange(req.userId);
    await this.accounts.delete(id);
  }
}
