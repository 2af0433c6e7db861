import { z } from 'zod';
import { AccountIdSchema, AccountStateSchema, MailboxNameSchema } from './common';

const hostSchema = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address');

/** Token endpoints and user names are URLs and strings a user typed: bounded, and https unless loopback (tests). */
const tokenUrlSchema = z
  .string()
  .url()
  .max(2048)
  .refine((u) => /^https:\/\//i.test(u) || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//i.test(u), { message: 'must be an https URL' });
const refreshTokenSchema = z.string().min(1).max(8192);

/**
 * How a mail login gets its OAuth 2 access token. `google` and `microsoft` use the operator's
 * registered app (OAUTH_* settings); `custom` names any standard token endpoint; `external` means
 * the integrator pushes each access token (`PUT /api/accounts/:id/access-token`).
 */
export const OAuth2CredentialSchema = z.discriminatedUnion('provider', [
  z.object({ provider: z.literal('google'), refreshToken: refreshTokenSchema }).strict(),
  z.object({ provider: z.literal('microsoft'), refreshToken: refreshTokenSchema }).strict(),
  z
    .object({
      provider: z.literal('custom'),
      tokenUrl: tokenUrlSchema,
      clientId: z.string().min(1).max(512),
      clientSecret: z.string().min(1).max(4096).optional(),
      refreshToken: refreshTokenSchema,
      scope: z.string().min(1).max(2048).optional(),
    })
    .strict(),
  z.object({ provider: z.literal('external') }).strict(),
]);
export type OAuth2Credential = z.infer<typeof OAuth2CredentialSchema>;
export type OAuth2Provider = OAuth2Credential['provider'];

/**
 * The credential fields of any mail login (IMAP, SMTP, POP3): exactly one of `pass` or `oauth2`.
 * Spread into a server-settings object, then pass that object through {@link requireOneCredential}.
 */
export const mailCredentialFields = {
  pass: z.string().min(1).max(4096).optional(),
  oauth2: OAuth2CredentialSchema.optional(),
};

/** Adds the "exactly one of pass / oauth2" rule, naming the field (`imap.pass`, `smtp.oauth2`…) in the 400. */
export function requireOneCredential<O extends { pass?: string; oauth2?: OAuth2Credential }, D extends z.ZodTypeDef, I>(schema: z.ZodType<O, D, I>) {
  return schema.superRefine((v, ctx) => {
    if (v.pass === undefined && v.oauth2 === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pass'], message: 'one of pass or oauth2 is required' });
    if (v.pass !== undefined && v.oauth2 !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['oauth2'], message: 'give either pass or oauth2, not both' });
  });
}

export const ServerSettingsSchema = requireOneCredential(
  z
    .object({
      host: hostSchema,
      port: z.number().int().min(1).max(65535),
      secure: z.boolean(),
      user: z.string().min(1).max(320),
      ...mailCredentialFields,
      /** Explicit per-account opt-out of certificate verification (self-signed test servers only). */
      tlsRejectUnauthorized: z.boolean().optional(),
    })
    .strict(),
);
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

/** `PUT /api/accounts/:id/access-token` (admin API) for `oauth2: { provider: 'external' }` accounts. */
export const PushAccessTokenBodySchema = z
  .object({
    accessToken: z.string().min(1).max(8192),
    /** ISO 8601 time at which the token stops being accepted. */
    expiresAt: z.string().datetime({ offset: true }),
  })
  .strict();
export type PushAccessTokenBody = z.infer<typeof PushAccessTokenBodySchema>;
