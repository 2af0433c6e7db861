import { z } from 'zod';
import { AccountIdSchema, AccountStateSchema, MailboxNameSchema } from './common';

const hostSchema = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address');

export const ServerSettingsSchema = z
  .object({
    host: hostSchema,
    port: z.number().int().min(1).max(65535),
    secure: z.boolean(),
    user: z.string().min(1).max(320),
    pass: z.string().min(1).max(4096),
    /** Explicit per-account opt-out of certificate verification (self-signed test servers only). */
    tlsRejectUnauthorized: z.boolean().optional(),
  })
  .strict();
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;

export const MailboxListSchema = z.array(MailboxNameSchema).min(1).max(100);

export const CreateAccountBodySchema = z
  .object({
    userId: z.string().min(1).max(256),
    email: z.string().email().max(320),
    imap: ServerSettingsSchema,
    smtp: ServerSettingsSchema,
    mailboxes: MailboxListSchema.default(['INBOX']),
  })
  .strict();
export type CreateAccountBody = z.infer<typeof CreateAccountBodySchema>;

export const PatchAccountBodySchema = z
  .object({ imap: ServerSettingsSchema.optional(), smtp: ServerSettingsSchema.optional(), mailboxes: MailboxListSchema.optional() })
  .strict()
  .refine((b) => b.imap || b.smtp || b.mailboxes, { message: 'at least one of imap, smtp, mailboxes is required' });
export type PatchAccountBody = z.infer<typeof PatchAccountBodySchema>;

/** What the API returns: never a secret. */
export const AccountViewSchema = z.object({
  id: AccountIdSchema,
  userId: z.string(),
  email: z.string(),
  mailboxes: z.array(z.string()),
  state: AccountStateSchema,
  error: z.string().optional(),
  /** Same counter as `account.state` events carry: the higher one is the newer state. */
  stateVersion: z.number().int().nonnegative(),
});
export type AccountView = z.infer<typeof AccountViewSchema>;

/** Published on the accounts-changed channel so the owning watcher reacts within seconds. */
export const AccountChangeNoticeSchema = z.object({
  accountId: AccountIdSchema,
  change: z.enum(['created', 'updated', 'deleted']),
});
export type AccountChangeNotice = z.infer<typeof AccountChangeNoticeSchema>;
