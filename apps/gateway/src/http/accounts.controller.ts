import { Body, Controller, Delete, Get, HttpCode, NotFoundException, Param, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiBody, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiQuery, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { AccountRepository } from '@pushmail/accounts';
import { AccountIdSchema, AccountView, CreateAccountBody, CreateAccountBodySchema, PatchAccountBody, PatchAccountBodySchema } from '@pushmail/contracts';
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
    await this.admission.checkHosts(body);
    return this.found(AccountIdSchema.safeParse(id).success ? await this.accounts.update(id, body) : null);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse()
  @ApiNotFoundResponse()
  async remove(@Param('id') id: string): Promise<void> {
    if (!AccountIdSchema.safeParse(id).success || !(await this.accounts.delete(id))) throw new NotFoundException();
  }

  private found(view: AccountView | null): AccountView {
    if (!view) throw new NotFoundException();
    return view;
  }
}
