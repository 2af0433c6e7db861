import { z } from 'zod';
import { AccountIdSchema, AccountStateSchema, MailboxNameSchema } from './common';
import { WATCH_ALL_FOLDERS } from './watched-folders';

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

/** Where and as whom to log in: the same fields for IMAP, SMTP and POP3. */
const mailServerFields = {
  host: hostSchema,
  port: z.number().int().min(1).max(65535),
  secure: z.boolean(),
  user: z.string().min(1).max(320),
  ...mailCredentialFields,
  /** Explicit per-account opt-out of certificate verification (self-signed test servers only). */
  tlsRejectUnauthorized: z.boolean().optional(),
};

export const ServerSettingsSchema = requireOneCredential(z.object(mailServerFields).strict());
export type ServerSettings = z.infer<typeof ServerSettingsSchema>;

export const MailboxListSchema = z.array(MailboxNameSchema).min(1).max(100);

/**
 * A POP3 mailbox (polled: POP3 cannot push). Exactly one of `pass` or `oauth2`, as for IMAP
 * (SASL XOAUTH2 / OAUTHBEARER, RFC 5034). Mail stays on the server unless `deleteAfterDays` is
 * set: then pushmail deletes it (DELE) that many days after fetching it.
 */
export const Pop3SettingsSchema = requireOneCredential(
  z
    .object({
      ...mailServerFields,
      deleteAfterDays: z.number().int().min(1).max(3650).optional(),
    })
    .strict(),
);
export type Pop3Settings = z.infer<typeof Pop3SettingsSchema>;

export const accountProtocols = ['imap', 'pop3'] as const;
export type AccountProtocol = (typeof accountProtocols)[number];
/** How often a POP3 account is polled when the body does not say. */
export const DEFAULT_POLL_INTERVAL_SECONDS = 60;
/**
 * The contract's bounds; the gateway refuses less than POP3_MIN_POLL_SECONDS (15 by default, lower
 * only in tests), so the floor is an operator's setting, not a constant here.
 */
export const PollIntervalSecondsSchema = z.number().int().min(1).max(3600);

/** The account fields as an object (for `.omit`); {@link CreateAccountBodySchema} adds the imap-or-pop3 rule. */
export const CreateAccountFieldsSchema = z
  .object({
    userId: z.string().min(1).max(256),
    email: z.string().email().max(320),
    imap: ServerSettingsSchema.optional(),
    pop3: Pop3SettingsSchema.optional(),
    smtp: ServerSettingsSchema,
    /**
     * The folders watched live: names, or `"*"` for every folder except `\All`, `\Junk` and
     * `\Trash` (names beside `"*"` add those back). New accounts watch every folder; POP3 has INBOX.
     */
    mailboxes: MailboxListSchema.default(['*']),
    /** POP3 only: seconds between two polls. */
    pollIntervalSeconds: PollIntervalSecondsSchema.optional(),
  })
  .strict();

/** Exactly one of `imap` or `pop3`, naming the field; POP3 has only INBOX. */
export function requireOneIncoming<O extends { imap?: unknown; pop3?: unknown; mailboxes: string[]; pollIntervalSeconds?: number }, D extends z.ZodTypeDef, I>(schema: z.ZodType<O, D, I>) {
  // `["*"]` (the default) on a POP3 account is its one folder, stored as INBOX.
  const onlyAll = (mailboxes: string[]) => mailboxes.length === 1 && mailboxes[0] === WATCH_ALL_FOLDERS;
  return schema
    .superRefine((v, ctx) => {
      if (v.imap === undefined && v.pop3 === undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['imap'], message: 'one of imap or pop3 is required' });
      if (v.imap !== undefined && v.pop3 !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pop3'], message: 'give either imap or pop3, not both' });
      if (v.pop3 !== undefined && !onlyAll(v.mailboxes) && (v.mailboxes.length !== 1 || v.mailboxes[0] !== 'INBOX')) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['mailboxes'], message: 'POP3 accounts have only INBOX' });
      if (v.imap !== undefined && v.pollIntervalSeconds !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['pollIntervalSeconds'], message: 'only POP3 accounts are polled on an interval' });
    })
    .transform((v): O => (v.pop3 !== undefined && onlyAll(v.mailboxes) ? { ...v, mailboxes: ['INBOX'] } : v));
}

export const CreateAccountBodySchema = requireOneIncoming(CreateAccountFieldsSchema);
export type CreateAccountBody = z.infer<typeof CreateAccountBodySchema>;

/**
 * Each given object replaces the stored one whole (`pop3` like `imap`: its `pass` or `oauth2` is
 * always needed). Whether `imap` or `pop3` / `pollIntervalSeconds` fits the account's protocol is
 * checked against the stored account (400 naming the field).
 */
export const PatchAccountBodySchema = z
  .object({
    imap: ServerSettingsSchema.optional(),
    pop3: Pop3SettingsSchema.optional(),
    smtp: ServerSettingsSchema.optional(),
    mailboxes: MailboxListSchema.optional(),
    pollIntervalSeconds: PollIntervalSecondsSchema.optional(),
  })
  .strict()
  .refine((b) => b.imap || b.pop3 || b.smtp || b.mailboxes || b.pollIntervalSeconds !== undefined, { message: 'at least one of imap, pop3, smtp, mailboxes, pollIntervalSeconds is required' })
  .refine((b) => !(b.imap && b.pop3), { path: ['pop3'], message: 'give either imap or pop3, not both' });
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
  protocol: z.enum(accountProtocols),
  /** `poll` for POP3 (every `pollIntervalSeconds`); IMAP servers without IDLE are polled too. */
  delivery: z.enum(['push', 'poll']),
  pollIntervalSeconds: z.number().int().positive().optional(),
});
export type AccountView = z.infer<typeof AccountViewSchema>;

/** Published on the accounts-changed channel so the owning watcher reacts within seconds. */
export const AccountChangeNoticeSchema = z.object({
  accountId: AccountIdSchema,
  change: z.enum(['created', 'updated', 'deleted']),
  /**
   * The owner, so that gateways can tell the user's sockets (`account.changed`). Optional: a notice
   * that changes nothing a client shows (a pushed access token) leaves it out, and so did notices
   * from before this field; gateways tell clients nothing for those.
   */
  userId: z.string().optional(),
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
