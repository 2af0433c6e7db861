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

export class Pop3SettingsDto extends ServerSettingsDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 3650, description: 'delete the message on the server (DELE) this many days after pushmail fetched it; absent: leave it there' })
  deleteAfterDays?: number;
}

export class PatchAccountDto {
  @ApiPropertyOptional({ type: ServerSettingsDto, description: 'IMAP accounts only; replaces the stored settings' }) imap?: ServerSettingsDto;
  @ApiPropertyOptional({ type: Pop3SettingsDto, description: 'POP3 accounts only; replaces the stored settings (pass included)' }) pop3?: Pop3SettingsDto;
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
