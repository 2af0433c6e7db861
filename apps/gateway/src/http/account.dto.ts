import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { accountStates, connectionFailureCodes } from '@pushmail/contracts';

// OpenAPI descriptions only: requests are validated with the contract's zod schemas.

export class ServerSettingsDto {
  @ApiProperty({ example: 'imap.example.test' }) host!: string;
  @ApiProperty({ example: 993 }) port!: number;
  @ApiProperty({ description: 'TLS from the first byte (993/465); false means plain or STARTTLS' }) secure!: boolean;
  @ApiProperty({ example: 'alice@example.test' }) user!: string;
  @ApiProperty({ writeOnly: true, description: 'stored encrypted (AES-256-GCM), never returned' }) pass!: string;
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

export class PatchAccountDto {
  @ApiPropertyOptional({ type: ServerSettingsDto }) imap?: ServerSettingsDto;
  @ApiPropertyOptional({ type: ServerSettingsDto }) smtp?: ServerSettingsDto;
  @ApiPropertyOptional({ type: [String] }) mailboxes?: string[];
}

export class AccountViewDto {
  @ApiProperty({ example: 'acc_Zx3…' }) id!: string;
  @ApiProperty() userId!: string;
  @ApiProperty() email!: string;
  @ApiProperty({ type: [String] }) mailboxes!: string[];
  @ApiProperty({ enum: accountStates }) state!: string;
  @ApiPropertyOptional({ enum: connectionFailureCodes, description: 'why the account is in auth_failed or error: a category, never the server text' }) error?: string;
}
