import { z } from 'zod';
import type { AccountView } from './accounts';
import { AccountState } from './common';
import { AccountIdSchema, EventIdSchema, MailboxNameSchema, UidSchema, headerSafeString } from './common';
import {
  MailboxInfo,
  MailboxListRequest,
  MailboxListRequestSchema,
  MessageDeleteRequest,
  MessageDeleteRequestSchema,
  MessageListRequest,
  MessageListRequestSchema,
  MessageMoveRequest,
  MessageMoveRequestSchema,
  MessagePage,
  MessageSearchRequest,
  MessageSearchRequestSchema,
  MovedMessage,
} from './mailboxes';
import { FullMessageNewEvent, MailboxResetEvent, MailboxesChangedEvent, MessageDeletedEvent, MessageFlagsEvent, MessageNewEvent, ParsedMessage } from './messages';

export const errorCodes = ['bad_request', 'forbidden', 'not_found', 'payload_too_large', 'rate_limited', 'internal'] as const;
export type ErrorCode = (typeof errorCodes)[number];
export interface AckError {
  ok: false;
  error: { code: ErrorCode; message: string };
}
export type Ack<T extends object = object> = ({ ok: true } & T) | AckError;

/** The refusal message a client sees as `connect_error` for a missing, invalid or expired token. */
export const UNAUTHORIZED = 'unauthorized';

/** Server → client event names; every emit goes through {@link ServerToClientEvents}. */
export enum ServerEvent {
  MessageNew = 'message.new',
  MessageFlags = 'message.flags',
  MessageDeleted = 'message.deleted',
  MailboxReset = 'mailbox.reset',
  /** Folders created, renamed or deleted on the server (logged, with an eventId): list them again. */
  MailboxesChanged = 'mailboxes.changed',
  AccountState = 'account.state',
  /** An account of the user was added, changed or removed (by another tab, device or the admin API). */
  AccountChanged = 'account.changed',
  MessageSent = 'message.sent',
  MessageSendFailed = 'message.send_failed',
  /** Sent before a gateway shuts down: reconnect (to another gateway) and resume with `since`. */
  ServerShutdown = 'server.shutdown',
}

export enum ClientCommand {
  Subscribe = 'subscribe',
  Unsubscribe = 'unsubscribe',
  MessageGet = 'message.get',
  MessageFlag = 'message.flag',
  MessageSend = 'message.send',
  /** A short-lived signed URL for one MIME part, for links and `<img>` that cannot send a token. */
  MessagePartLink = 'message.partLink',
  /** The account's folders with counts and special uses. */
  MailboxList = 'mailbox.list',
  /** A page of a folder, newest first by UID. */
  MessageList = 'message.list',
  /** IMAP UID SEARCH in one folder, paged as `message.list`. */
  MessageSearch = 'message.search',
  MessageMove = 'message.move',
  /** To the Trash folder, or expunged (in the Trash, or `permanent`). */
  MessageDelete = 'message.delete',
}

export interface AccountStateEvent {
  accountId: string;
  state: AccountState;
  error?: string;
  /**
   * Grows by one with every change of this account's state (the view carries the same counter):
   * a view fetched over HTTP can arrive after a newer event, and must not undo it.
   */
  stateVersion: number;
}
/**
 * To every socket of the account's owner, on every gateway, whether or not it subscribed to the
 * account: a client learns of an account added elsewhere, which it has not subscribed to yet. The
 * view is the one `GET /api/me/accounts` would answer just after the change; not logged.
 */
export type AccountChangedEvent = { accountId: string; change: 'created' | 'updated'; account: AccountView } | { accountId: string; change: 'deleted' };
export interface MessageSentEvent {
  sendId: string;
  accountId: string;
  messageId: string;
}
export interface MessageSendFailedEvent {
  sendId: string;
  accountId: string;
  error: { code: string; message: string };
}

export interface ServerToClientEvents {
  [ServerEvent.MessageNew]: (event: MessageNewEvent) => void;
  [ServerEvent.MessageFlags]: (event: MessageFlagsEvent) => void;
  [ServerEvent.MessageDeleted]: (event: MessageDeletedEvent) => void;
  [ServerEvent.MailboxReset]: (event: MailboxResetEvent) => void;
  [ServerEvent.MailboxesChanged]: (event: MailboxesChangedEvent) => void;
  [ServerEvent.AccountState]: (event: AccountStateEvent) => void;
  [ServerEvent.AccountChanged]: (event: AccountChangedEvent) => void;
  [ServerEvent.MessageSent]: (event: MessageSentEvent) => void;
  [ServerEvent.MessageSendFailed]: (event: MessageSendFailedEvent) => void;
  [ServerEvent.ServerShutdown]: (event: { reconnectInMs: number }) => void;
}

/** The events that live in an account's event log (everything with an eventId). */
export type LoggedEventName = ServerEvent.MessageNew | ServerEvent.MessageFlags | ServerEvent.MessageDeleted | ServerEvent.MailboxReset | ServerEvent.MailboxesChanged;
export interface LoggedEventPayloads {
  [ServerEvent.MessageNew]: MessageNewEvent;
  [ServerEvent.MessageFlags]: MessageFlagsEvent;
  [ServerEvent.MessageDeleted]: MessageDeletedEvent;
  [ServerEvent.MailboxReset]: MailboxResetEvent;
  [ServerEvent.MailboxesChanged]: MailboxesChangedEvent;
}
export type LoggedEvent = { [N in LoggedEventName]: { name: N; payload: LoggedEventPayloads[N] } }[LoggedEventName];

/** One account: `{ accountId, since? }`, acked `{ ok: true, replayed }`. */
export const SubscribeOneRequestSchema = z.object({ accountId: AccountIdSchema, since: EventIdSchema.optional() }).strict();
export type SubscribeOneRequest = z.infer<typeof SubscribeOneRequestSchema>;

/** Most accounts in one batch `subscribe`; a client with more sends several. */
export const MAX_SUBSCRIBE_BATCH = 500;
/** Many accounts in one command (one token of the rate limit): `{ accounts: [{ accountId, since? }, …] }`. */
export const SubscribeBatchRequestSchema = z.object({ accounts: z.array(SubscribeOneRequestSchema).min(1).max(MAX_SUBSCRIBE_BATCH) }).strict();
export type SubscribeBatchRequest = z.infer<typeof SubscribeBatchRequestSchema>;

export type SubscribeRequest = SubscribeOneRequest | SubscribeBatchRequest;
export const isSubscribeBatch = (req: SubscribeRequest): req is SubscribeBatchRequest => 'accounts' in req;

/**
 * The union of both forms. A body with `accounts` is checked as a batch, anything else as a single
 * subscribe, so a refusal names the field that is wrong (`accounts: …at most 500…`) instead of
 * zod's "invalid input" for a union where every branch failed.
 */
export const SubscribeRequestSchema: z.ZodType<SubscribeRequest, z.ZodTypeDef, unknown> = z.unknown().transform((body, ctx) => {
  const schema = typeof body === 'object' && body !== null && 'accounts' in body ? SubscribeBatchRequestSchema : SubscribeOneRequestSchema;
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) ctx.addIssue(issue);
  return z.NEVER;
});

/** One entry of a batch's ack, in the order of the request. */
export type SubscribeBatchResult = { accountId: string; ok: true; replayed: number } | { accountId: string; ok: false; error: { code: ErrorCode; message: string } };
export type SubscribeOneAck = Ack<{ replayed: number }>;
export type SubscribeBatchAck = Ack<{ results: SubscribeBatchResult[] }>;
export type SubscribeAck = SubscribeOneAck | SubscribeBatchAck;
export const UnsubscribeRequestSchema = z.object({ accountId: AccountIdSchema }).strict();
export type UnsubscribeRequest = z.infer<typeof UnsubscribeRequestSchema>;
export const MessageGetRequestSchema = z.object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, uid: UidSchema }).strict();
export type MessageGetRequest = z.infer<typeof MessageGetRequestSchema>;

const flagName = z.string().min(1).max(128).regex(/^\\?[^\s()\]{%*"\\]+$/, 'is not a valid IMAP flag');
export const MessageFlagRequestSchema = z
  .object({
    accountId: AccountIdSchema,
    mailbox: MailboxNameSchema,
    uid: UidSchema,
    add: z.array(flagName).max(32).optional(),
    remove: z.array(flagName).max(32).optional(),
  })
  .strict();
export type MessageFlagRequest = z.infer<typeof MessageFlagRequestSchema>;

const SendAddressSchema = z.object({
  name: headerSafeString(256).optional(),
  address: headerSafeString(320).pipe(z.string().email()),
});
export const SendAttachmentSchema = z.object({
  filename: headerSafeString(255),
  contentType: headerSafeString(255).pipe(z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be type/subtype')),
  content: z.string().regex(/^[A-Za-z0-9+/=\s]*$/, 'must be base64'),
});
export const MessageSendRequestSchema = z
  .object({
    accountId: AccountIdSchema,
    idempotencyKey: z.string().min(1).max(200),
    to: z.array(SendAddressSchema).min(1).max(100),
    cc: z.array(SendAddressSchema).max(100).optional(),
    bcc: z.array(SendAddressSchema).max(100).optional(),
    subject: headerSafeString(998),
    text: z.string().optional(),
    html: z.string().optional(),
    inReplyTo: z.object({ mailbox: MailboxNameSchema, uid: UidSchema }).strict().optional(),
    attachments: z.array(SendAttachmentSchema).max(50).optional(),
  })
  .strict();
export type MessageSendRequest = z.infer<typeof MessageSendRequestSchema>;
export type SendAddress = z.infer<typeof SendAddressSchema>;

const PartIdSchema = z.string().regex(/^\d{1,5}(\.\d{1,5}){0,31}$/, 'must be a MIME part number such as 1.2');
export const MessagePartLinkRequestSchema = z.object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, uid: UidSchema, partId: PartIdSchema }).strict();
export type MessagePartLinkRequest = z.infer<typeof MessagePartLinkRequestSchema>;
/**
 * `url` is root-relative (the gateway may sit behind a proxy that it cannot name): resolve it
 * against the gateway's URL. It works without a token until `expiresAt` (ISO 8601, at most 5 min).
 */
export interface PartLink {
  url: string;
  expiresAt: string;
}

export interface ClientToServerEvents {
  /**
   * The request's form decides the ack's. The single form is the last overload because
   * `Parameters<>` (and Socket.IO's typings through it) read the last one: code typed that way
   * keeps the single form's shape; batch callers name {@link SubscribeBatchAck}.
   */
  [ClientCommand.Subscribe]: {
    (req: SubscribeBatchRequest, ack: (res: SubscribeBatchAck) => void): void;
    (req: SubscribeOneRequest, ack: (res: SubscribeOneAck) => void): void;
  };
  [ClientCommand.Unsubscribe]: (req: UnsubscribeRequest, ack: (res: Ack) => void) => void;
  [ClientCommand.MessageGet]: (req: MessageGetRequest, ack: (res: Ack<{ message: FullMessageNewEvent | ParsedMessage }>) => void) => void;
  [ClientCommand.MessageFlag]: (req: MessageFlagRequest, ack: (res: Ack) => void) => void;
  [ClientCommand.MessageSend]: (req: MessageSendRequest, ack: (res: Ack<{ sendId: string }>) => void) => void;
  [ClientCommand.MessagePartLink]: (req: MessagePartLinkRequest, ack: (res: Ack<PartLink>) => void) => void;
  [ClientCommand.MailboxList]: (req: MailboxListRequest, ack: (res: Ack<{ mailboxes: MailboxInfo[] }>) => void) => void;
  [ClientCommand.MessageList]: (req: MessageListRequest, ack: (res: Ack<MessagePage>) => void) => void;
  [ClientCommand.MessageSearch]: (req: MessageSearchRequest, ack: (res: Ack<MessagePage>) => void) => void;
  [ClientCommand.MessageMove]: (req: MessageMoveRequest, ack: (res: Ack<{ moved: MovedMessage[] }>) => void) => void;
  [ClientCommand.MessageDelete]: (req: MessageDeleteRequest, ack: (res: Ack) => void) => void;
}

export const clientCommandSchemas = {
  [ClientCommand.Subscribe]: SubscribeRequestSchema,
  [ClientCommand.Unsubscribe]: UnsubscribeRequestSchema,
  [ClientCommand.MessageGet]: MessageGetRequestSchema,
  [ClientCommand.MessageFlag]: MessageFlagRequestSchema,
  [ClientCommand.MessageSend]: MessageSendRequestSchema,
  [ClientCommand.MessagePartLink]: MessagePartLinkRequestSchema,
  [ClientCommand.MailboxList]: MailboxListRequestSchema,
  [ClientCommand.MessageList]: MessageListRequestSchema,
  [ClientCommand.MessageSearch]: MessageSearchRequestSchema,
  [ClientCommand.MessageMove]: MessageMoveRequestSchema,
  [ClientCommand.MessageDelete]: MessageDeleteRequestSchema,
} as const;


