import { BadRequestException, Controller, Get, HttpException, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBearerAuth, ApiFoundResponse, ApiNotFoundResponse, ApiOkResponse, ApiProperty, ApiTags, ApiTooManyRequestsResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { AccountRepository } from '@pushmail/accounts';
import { OAUTH_ERROR_PARAM, OAUTH_RESULT_PARAM, OAuthSignInProvider, OAuthStartResponse } from '@pushmail/contracts';
import type { Request, Response } from 'express';
import { AccountAdmission } from './account-admission.service';
import { ClientRequest, ClientTokenGuard } from './client-token.guard';
import { CALLBACK_PATH, OAuthSignInService, SIGN_IN_STATE_TTL_SECONDS, SignInFailed } from './oauth-sign-in.service';

/** Holds the nonce that ties a started sign-in to the browser that started it; sent only to the callback. */
const BROWSER_COOKIE = 'pushmail_oauth';

class SignInProviderDto {
  @ApiProperty({ enum: ['google', 'microsoft', 'custom'] }) id!: string;
  @ApiProperty({ example: 'Google' }) label!: string;
}
class StartDto {
  @ApiProperty({ description: "the provider's consent page (authorization code + PKCE); valid 10 minutes, once" }) url!: string;
}

/** Why an admission check refused the account, as the web client is told in `oauth_error`. */
const admissionErrors: Record<number, string> = { 400: 'not_allowed', 409: 'too_many_accounts', 429: 'rate_limited' };

/**
 * "Sign in with Google / Microsoft": the web client asks for a consent URL (client token), the
 * browser goes there, and the provider sends it back to the callback, which creates the account
 * with the oauth2 credential and redirects to the web client. See docs/protocol.md, "User API".
 */
@ApiTags('user')
@Controller()
export class OAuthSignInController {
  constructor(
    private readonly signIn: OAuthSignInService,
    private readonly admission: AccountAdmission,
    private readonly accounts: AccountRepository,
  ) {}

  @Get('api/me/oauth/providers')
  @UseGuards(ClientTokenGuard)
  @ApiBearerAuth('client')
  @ApiUnauthorizedResponse()
  @ApiOkResponse({ type: [SignInProviderDto], description: 'the providers the operator configured; empty without PUBLIC_URL' })
  providers(): OAuthSignInProvider[] {
    return this.signIn.list();
  }

  @Get('api/me/oauth/:provider/start')
  @UseGuards(ClientTokenGuard)
  @ApiBearerAuth('client')
  @ApiUnauthorizedResponse()
  @ApiOkResponse({ type: StartDto, description: 'also sets a cookie the callback needs: open the URL in the same browser' })
  @ApiNotFoundResponse({ description: 'the provider is not configured (field `provider`)' })
  @ApiTooManyRequestsResponse({ description: 'more than ACCOUNT_CHANGES_PER_HOUR account changes this hour (a started sign-in counts as one)' })
  async start(@Req() req: ClientRequest, @Param('provider') provider: string, @Res({ passthrough: true }) res: Response): Promise<OAuthStartResponse> {
    // A started sign-in counts as an account change (like a refused creation): it bounds the
    // states one user can make Redis hold to ACCOUNT_CHANGES_PER_HOUR.
    await this.admission.takeChange(req.userId);
    const { url, browserNonce } = await this.signIn.start(req.userId, provider);
    res.cookie(BROWSER_COOKIE, browserNonce, {
      httpOnly: true,
      // Lax: sent on the provider's top-level redirect back to us, never on cross-site subrequests.
      sameSite: 'lax',
      secure: this.signIn.publicUrl?.startsWith('https:') ?? false,
      path: CALLBACK_PATH,
      maxAge: SIGN_IN_STATE_TTL_SECONDS * 1000,
    });
    res.setHeader('Cache-Control', 'no-store');
    return { url };
  }

  @Get(CALLBACK_PATH.slice(1))
  @ApiFoundResponse({ description: 'to the web client with `oauth=connected&account=<id>`, or `oauth_error=<why>` (nothing created)' })
  @ApiBadRequestResponse({ description: 'a missing, forged, expired, reused or foreign `state`, or no `code`: nothing is created' })
  async callback(@Query() query: Record<string, unknown>, @Req() req: Request, @Res() res: Response): Promise<void> {
    const pending = await this.signIn.takeState(query.state, cookie(req, BROWSER_COOKIE));
    res.clearCookie(BROWSER_COOKIE, { path: CALLBACK_PATH });
    res.setHeader('Cache-Control', 'no-store');
    try {
      // The user declined at the provider (or it failed): RFC 6749 §4.1.2.1.
      if (query.error !== undefined) throw new SignInFailed('access_denied');
      if (typeof query.code !== 'string' || !query.code || query.code.length > 4096) {
        throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message: 'code: is missing', field: 'code' });
      }
      const body = await this.signIn.exchange(pending, query.code);
      await this.admission.checkAccountLimit(pending.userId);
      await this.admission.checkHosts(body);
      const created = await this.admission.createWithinLimit(pending.userId, () => this.accounts.create(body), (id) => this.accounts.delete(id));
      res.redirect(303, this.signIn.webClientUrl({ [OAUTH_RESULT_PARAM]: 'connected', account: created.id }));
    } catch (err) {
      const code = err instanceof SignInFailed ? err.code : err instanceof HttpException && !(err instanceof BadRequestException && fieldOf(err) === 'code') ? admissionErrors[err.getStatus()] : undefined;
      if (!code) throw err;
      res.redirect(303, this.signIn.webClientUrl({ [OAUTH_ERROR_PARAM]: code }));
    }
  }
}

function fieldOf(err: HttpException): unknown {
  const response = err.getResponse();
  return typeof response === 'object' && response !== null && 'field' in response ? response.field : undefined;
}

/** One cookie's value (no cookie-parser in this app for a single cookie). */
function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return undefined;
}
