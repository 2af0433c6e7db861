import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { accountStates, connectionFailureCodes } from '@pushmail/contracts';

// OpenAPI descriptions only: requests are validated with the contract's zod schemas.

/** One of four shapes, by `provider` (libs/contracts `OAuth2CredentialSchema`); the other fields are per shape. */
export class OAuth2CredentialDto {
  @ApiProperty({
    enum: ['google', 'microsoft', 'custom', 'external'],
    description:
      "google / microsoft: refreshed with the operator's app (OAUTH_* settings), takes only `refreshToken`; custom: any token endpoint, takes `tokenUrl`, `clientId`, `refreshToken`, and optionally `clientSecret`, `scope`; external: no other field, the integrator pushes access tokens (PUT /api/accounts/{id}/access-token)",
  })
  provider!: string;
  @ApiPropertyOptional({ writeOnly: true, description: 'google, microsoft, custom: stored encrypted (AES-256-GCM), never returned' }) refreshToken?: string;
  @ApiPropertyOptional({ example: 'https://id.example.com/oauth2/token', description: 'custom only: https (loopback http in tests); its host must pass the mail-host checks (400 naming `imap.oauth2.tokenUrl`)' })
  tokenUrl?: string;
  @ApiPropertyOptional({ description: 'custom only' }) clientId?: string;
  @ApiPropertyOptional({ writeOnly: true, description: 'custom only: stored encrypted, never returned' }) clientSecret?: string;
  @ApiPropertyOptional({ example: 'offline_access mail', description: 'custom only: sent with each refresh' }) scope?: string;
}

export class ServerSettingsDto {
  @ApiProperty({ example: 'imap.example.test' }) host!: string;
  @ApiProperty({ example: 993 }) port!: number;
  @ApiProperty({ description: 'TLS from the first byte (993/465); false means plain or STARTTLS' }) secure!: boolean;
  @ApiProperty({ example: 'alice@example.test' }) user!: string;
  @ApiPropertyOptional({ writeOnly: true, description: 'exactly one of `pass` or `oauth2` (400 naming the field otherwise); stored encrypted (AES-256-GCM), never returned' }) pass?: string;
  @ApiPropertyOptional({ type: OAuth2CredentialDto, writeOnly: true, description: 'instead of `pass`: an OAuth 2 login (XOAUTH2, or OAUTHBEARER where the IMAP server offers it)' })
  oauth2?: OAuth2CredentialDto;
  @ApiPropertyOptional({ description: 'false only for self-signed test servers: turns certificate checks off for this account' })
  tlsRejectUnauthorized?: boolean;
}

export class CreateAccountDto {
  @ApiProperty({ example: 'u1', description: 'the `sub` of the client tokens that may use this account' }) userId!: string;
  @ApiProperty({ example: 'alice@example.test' }) email!: string;
  @ApiProperty({ type: ServerSettingsDto }) imap!: ServerSettingsDto;
  @ApiProperty({ type: ServerSettingsDto }) smtp!: ServerSettingsDto;
  @ApiPropertyOptional({ type: [String], default: ['INBOX'] }) mailboxes?: string[];
}

export class Pop3SettingsDto extends ServerSettingsDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 3650, description: 'delete the message on the server (DELE) this many days after pushmail fetched it; absent: leave it there' })
  deleteAfterDays?: number;
}

export class PatchAccountDto {
  @ApiPropertyOptional({ type: ServerSettingsDto, description: 'IMAP accounts only; replaces the stored settings' }) imap?: ServerSettingsDto;
  @ApiPropertyOptional({ type: Pop3SettingsDto, description: 'POP3 accounts only; replaces the stored settings (pass or oauth2 included)' }) pop3?: Pop3SettingsDto;
  @ApiPropertyOptional({ type: ServerSettingsDto }) smtp?: ServerSettingsDto;
  @ApiPropertyOptional({ type: [String], description: 'POP3 accounts have only INBOX' }) mailboxes?: string[];
  @ApiPropertyOptional({ minimum: 15, maximum: 3600, description: 'POP3 accounts only: seconds between two polls (at least POP3_MIN_POLL_SECONDS)' }) pollIntervalSeconds?: number;
}

export class AccountViewDto {
  @ApiProperty({ example: 'acc_Zx3…' }) id!: string;
  @ApiProperty() userId!: string;
  @ApiProperty() email!: string;
  @ApiProperty({ type: [String] }) mailboxes!: string[];
  @ApiProperty({ enum: accountStates }) state!: string;
  @ApiPropertyOptional({ enum: connectionFailureCodes, description: 'why the account is in auth_failed or error: a category, never the server text' }) error?: string;
}
