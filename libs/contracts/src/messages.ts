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

/**
 * What an account's event log keeps of a `message.new`: the message without its bodies (envelope,
 * flags, preview, attachment metadata), at most {@link MAX_LOG_SUMMARY_BYTES} as JSON. The body is
 * stored once, beside the log, for `BODY_CACHE_SECONDS`. `truncated`: lists or strings were cut to
 * fit; `message.get` has the whole message.
 */
export const MessageLogSummarySchema = ParsedMessageSchema.omit({ text: true, html: true, parseWarnings: true }).extend({ truncated: z.literal(true).optional() });
export type MessageLogSummary = z.infer<typeof MessageLogSummarySchema>;

/** A `message.new` with its bodies: every live one, and replayed ones whose body is still stored. */
export const FullMessageNewEventSchema = ParsedMessageSchema.extend({ eventId: EventIdSchema, bodyExpired: z.literal(false).optional() });
export type FullMessageNewEvent = z.infer<typeof FullMessageNewEventSchema>;

/** A replayed `message.new` whose stored body has expired: the log's summary; `message.get` fetches the rest from the mail server. */
export const ExpiredMessageNewEventSchema = MessageLogSummarySchema.extend({ eventId: EventIdSchema, bodyExpired: z.literal(true) });
export type ExpiredMessageNewEvent = z.infer<typeof ExpiredMessageNewEventSchema>;

export const MessageNewEventSchema = z.union([FullMessageNewEventSchema, ExpiredMessageNewEventSchema]);
export type MessageNewEvent = FullMessageNewEvent | ExpiredMessageNewEvent;

/** Bytes (UTF-8 JSON) a logged message summary may take: the per-event budget of Redis memory. */
export const MAX_LOG_SUMMARY_BYTES = 2048;

const utf8Bytes = (s: string) => {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
};
/** Cut to `max` UTF-16 units without splitting a surrogate pair. */
const cut = (s: string, max: number) => (s.length <= max ? s : s.slice(0, /[\ud800-\udbff]/.test(s[max - 1] ?? '') ? max - 1 : max));

/**
 * The log summary of a parsed message, within {@link MAX_LOG_SUMMARY_BYTES} whatever the message
 * holds (a subject of 10 KB, 500 recipients, 200 attachments; only a mailbox name near its
 * 512-character limit, all escaped in JSON, can exceed it): ordinary mail passes whole; large
 * fields are cut in steps, each tighter, until the JSON fits. Pure, so the fetcher's parser
 * thread builds it beside the full JSON.
 */
export function toMessageLogSummary(message: ParsedMessage): MessageLogSummary {
  const { text: _text, html: _html, parseWarnings: _warnings, ...whole } = message;
  const wholeJson = JSON.stringify(whole);
  if (utf8Bytes(wholeJson) <= MAX_LOG_SUMMARY_BYTES) return whole;
  // Each step keeps less: [string chars, addresses per list, attachments, references, flags].
  const steps: Array<[number, number, number, number, number]> = [
    [200, 10, 10, 3, 20],
    [100, 4, 4, 1, 10],
    [60, 2, 2, 0, 6],
    [30, 1, 1, 0, 4],
    [12, 0, 0, 0, 2],
  ];
  let summary: MessageLogSummary = whole;
  for (const [chars, addresses, attachments, references, flags] of steps) {
    const address = (a: { name: string; address: string }) => ({ name: cut(a.name, chars), address: cut(a.address, Math.max(chars, 60)) });
    summary = {
      ...whole,
      messageId: whole.messageId === null ? null : cut(whole.messageId, Math.max(chars, 60)),
      subject: cut(whole.subject, chars),
      from: whole.from ? address(whole.from) : null,
      to: whole.to.slice(0, addresses).map(address),
      cc: whole.cc.slice(0, addresses).map(address),
      flags: whole.flags.slice(0, flags).map((f) => cut(f, 40)),
      preview: cut(whole.preview, chars),
      attachments: whole.attachments.slice(0, attachments).map((a) => ({
        ...a,
        partId: cut(a.partId, 40),
        filename: a.filename === null ? null : cut(a.filename, chars),
        contentType: cut(a.contentType, 60),
        ...(a.contentId === undefined ? {} : { contentId: cut(a.contentId, 60) }),
      })),
      truncated: true,
    };
    if (whole.inReplyTo !== undefined) summary.inReplyTo = cut(whole.inReplyTo, Math.max(chars, 60));
    if (whole.references) summary.references = whole.references.slice(-references).slice(0, references).map((r) => cut(r, Math.max(chars, 60)));
    if (utf8Bytes(JSON.stringify(summary)) <= MAX_LOG_SUMMARY_BYTES) return summary;
  }
  // Only the reference can still be long (a mailbox name of 512 characters, each escaped in JSON):
  // the reference and the envelope's fixed fields, nothing cut from what names the message.
  const { inReplyTo: _r, references: _refs, ...rest } = summary;
  return { ...rest, messageId: null, subject: '', from: null, flags: [], preview: '', date: summary.date && cut(summary.date, 40), receivedAt: cut(summary.receivedAt, 40) };
}

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
/** The account's folders were created, renamed or deleted on the server: read `mailbox.list` again. */
export const MailboxesChangedEventSchema = z.object({ eventId: EventIdSchema, accountId: z.string() });
export type MailboxesChangedEvent = z.infer<typeof MailboxesChangedEventSchema>;
