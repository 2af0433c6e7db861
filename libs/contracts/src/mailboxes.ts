import { z } from 'zod';
import { AccountIdSchema, MailboxNameSchema, UidSchema, UidValiditySchema } from './common';

/**
 * The whole mailbox: folders, history, search and organizing. The IMAP server stays the store;
 * these commands read it on demand over the fetcher's pooled connections.
 */

/** RFC 6154 special uses (plus `\Inbox`), reported by the server or guessed from the folder's name. */
export const specialUses = ['\\Inbox', '\\Sent', '\\Drafts', '\\Trash', '\\Junk', '\\Archive', '\\All', '\\Flagged'] as const;
export type SpecialUse = (typeof specialUses)[number];

export interface MailboxInfo {
  /** The full path, the name every other command takes. */
  path: string;
  /** The last segment of the path. */
  name: string;
  delimiter: string | null;
  /** The parent's full path, null at the top level. */
  parent: string | null;
  specialUse: SpecialUse | null;
  subscribed: boolean;
  messages: number | null;
  unseen: number | null;
  uidNext: number | null;
  uidValidity: number | null;
  /** Whether the account watches this folder (its changes arrive as events). */
  watched: boolean;
}

/**
 * One row of a message list, in the field formats of `message.new` (addresses `{ name, address }`,
 * `date` ISO 8601 from the Date header or null, flags without `\Recent`). `preview` is the stored
 * message's preview where pushmail has it, else empty: a list does not download bodies.
 */
export interface MessageSummary {
  accountId: string;
  mailbox: string;
  uidValidity: number;
  uid: number;
  messageId: string | null;
  subject: string;
  from: { name: string; address: string } | null;
  to: Array<{ name: string; address: string }>;
  cc: Array<{ name: string; address: string }>;
  date: string | null;
  flags: string[];
  size: number;
  preview: string;
  hasAttachments: boolean;
}
const SummaryAddressSchema = z.object({ name: z.string(), address: z.string() });
export const MessageSummarySchema: z.ZodType<MessageSummary, z.ZodTypeDef, unknown> = z.object({
  accountId: z.string(),
  mailbox: MailboxNameSchema,
  uidValidity: UidValiditySchema,
  uid: UidSchema,
  messageId: z.string().nullable(),
  subject: z.string(),
  from: SummaryAddressSchema.nullable(),
  to: z.array(SummaryAddressSchema),
  cc: z.array(SummaryAddressSchema),
  date: z.string().nullable(),
  flags: z.array(z.string()),
  size: z.number().int().nonnegative(),
  preview: z.string(),
  hasAttachments: z.boolean(),
});

/** A page of a folder or of a search, newest first. `nextBefore` is the `before` of the next page, null at the end. */
export interface MessagePage {
  messages: MessageSummary[];
  nextBefore: number | null;
  /** How many messages the folder (or the search) holds in all. */
  total: number;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;
/** Most uids one move or delete names. */
export const MAX_UIDS_PER_COMMAND = 500;

const isoDay = z
  .string()
  .regex(/^\d{4}-\d\d-\d\d$/, 'must be a date YYYY-MM-DD')
  .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)), { message: 'must be a real date' });
const searchTerm = z.string().min(1).max(256).refine((v) => !/[\r\n\0]/.test(v), { message: 'must not contain CR, LF or NUL' });

export const MailboxListRequestSchema = z.object({ accountId: AccountIdSchema }).strict();
export type MailboxListRequest = z.infer<typeof MailboxListRequestSchema>;

const pageFields = {
  /** A UID: only messages below it (exclusive). */
  before: UidSchema.optional(),
  limit: z.number().int().min(1).max(MAX_PAGE_SIZE).optional(),
};

export const MessageListRequestSchema = z.object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, ...pageFields }).strict();
export type MessageListRequest = z.infer<typeof MessageListRequestSchema>;

export const SearchQuerySchema = z
  .object({
    text: searchTerm.optional(),
    from: searchTerm.optional(),
    to: searchTerm.optional(),
    subject: searchTerm.optional(),
    unseen: z.boolean().optional(),
    flagged: z.boolean().optional(),
    /** Received on or after this day (IMAP SINCE). */
    since: isoDay.optional(),
    /** Received before this day (IMAP BEFORE). */
    before: isoDay.optional(),
  })
  .strict()
  .refine((q) => Object.values(q).some((v) => v !== undefined), { message: 'at least one search field is required' });
export type SearchQuery = z.infer<typeof SearchQuerySchema>;

export const MessageSearchRequestSchema = z.object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, query: SearchQuerySchema, ...pageFields }).strict();
export type MessageSearchRequest = z.infer<typeof MessageSearchRequestSchema>;

const uidList = z.array(UidSchema).min(1).max(MAX_UIDS_PER_COMMAND);

export const MessageMoveRequestSchema = z
  .object({
    accountId: AccountIdSchema,
    mailbox: MailboxNameSchema,
    uids: uidList,
    to: MailboxNameSchema,
    /** Create `to` when it does not exist (an "Archive" folder for the first archived message); else `not_found`. */
    create: z.boolean().optional(),
  })
  .strict();
export type MessageMoveRequest = z.infer<typeof MessageMoveRequestSchema>;
/** `newUid` from the server's COPYUID, null where it reported none. */
export interface MovedMessage {
  uid: number;
  newUid: number | null;
}

export const MessageDeleteRequestSchema = z
  .object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, uids: uidList, permanent: z.boolean().optional() })
  .strict();
export type MessageDeleteRequest = z.infer<typeof MessageDeleteRequestSchema>;
