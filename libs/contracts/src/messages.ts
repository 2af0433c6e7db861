import { z } from 'zod';
import { AddressSchema, EventIdSchema, MailboxNameSchema, UidSchema, UidValiditySchema } from './common';

export const AttachmentMetaSchema = z.object({
  partId: z.string(),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number().int().nonnegative(),
  inline: z.boolean(),
  contentId: z.string().optional(),
});
export type AttachmentMeta = z.infer<typeof AttachmentMetaSchema>;

/** A parsed, sanitized message as stored and as sent to clients (without the event envelope). */
export const ParsedMessageSchema = z.object({
  accountId: z.string(),
  mailbox: MailboxNameSchema,
  uid: UidSchema,
  uidValidity: UidValiditySchema,
  messageId: z.string().nullable(),
  inReplyTo: z.string().optional(),
  references: z.array(z.string()).optional(),
  subject: z.string(),
  from: AddressSchema.nullable(),
  to: z.array(AddressSchema),
  cc: z.array(AddressSchema),
  date: z.string().nullable(),
  receivedAt: z.string(),
  flags: z.array(z.string()),
  size: z.number().int().nonnegative(),
  preview: z.string(),
  text: z.string(),
  html: z.string().nullable(),
  attachments: z.array(AttachmentMetaSchema),
  parseWarnings: z.array(z.string()).optional(),
});
export type ParsedMessage = z.infer<typeof ParsedMessageSchema>;

export const MessageNewEventSchema = ParsedMessageSchema.extend({ eventId: EventIdSchema });
export type MessageNewEvent = z.infer<typeof MessageNewEventSchema>;

export const MessageFlagsEventSchema = z.object({
  eventId: EventIdSchema,
  accountId: z.string(),
  mailbox: MailboxNameSchema,
  uid: UidSchema,
  flags: z.array(z.string()),
});
export type MessageFlagsEvent = z.infer<typeof MessageFlagsEventSchema>;

export const MessageDeletedEventSchema = z.object({ eventId: EventIdSchema, accountId: z.string(), mailbox: MailboxNameSchema, uid: UidSchema });
export type MessageDeletedEvent = z.infer<typeof MessageDeletedEventSchema>;

export const MailboxResetEventSchema = z.object({ eventId: EventIdSchema, accountId: z.string(), mailbox: MailboxNameSchema, uidValidity: UidValiditySchema });
export type MailboxResetEvent = z.infer<typeof MailboxResetEventSchema>;
