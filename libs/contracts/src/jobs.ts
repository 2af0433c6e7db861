import { z } from 'zod';
import { AccountIdSchema, MailboxNameSchema, UidSchema, UidValiditySchema } from './common';
import {
  MailboxInfo,
  MailboxListRequestSchema,
  MessageDeleteRequestSchema,
  MessageListRequestSchema,
  MessageMoveRequestSchema,
  MessagePage,
  MessageSearchRequestSchema,
  MovedMessage,
} from './mailboxes';
import { ImapCommandJobName, MailboxJobName, QueueName, SendJobName } from './queues';

/**
 * Job payloads carry ids, never message bodies: the fetcher downloads what it needs, so a queue
 * backlog stays small in Redis.
 */
const mailboxRef = { accountId: AccountIdSchema, mailbox: MailboxNameSchema, uidValidity: UidValiditySchema };

export const FetchJobSchema = z.object({
  ...mailboxRef,
  uid: UidSchema,
  /** Epoch ms when the watcher saw EXISTS; feeds the push-latency histograms. */
  seenAt: z.number().optional(),
  /**
   * Who enqueued the job first: the watcher's IMAP session (`idle`, also when absent) or the mail
   * server's push notification (`notify`). The later enqueue of the same job id is a no-op, so the
   * fetcher counts which path saw each message first.
   */
  via: z.enum(['idle', 'notify']).optional(),
});
export type FetchJob = z.infer<typeof FetchJobSchema>;

export const FlagsJobSchema = z.object({ ...mailboxRef, uid: UidSchema, flags: z.array(z.string()), modseq: z.string().optional() });
export type FlagsJob = z.infer<typeof FlagsJobSchema>;

export const DeletedJobSchema = z.object({ ...mailboxRef, uid: UidSchema });
export type DeletedJob = z.infer<typeof DeletedJobSchema>;

export const ResetJobSchema = z.object({ ...mailboxRef, previousUidValidity: UidValiditySchema.optional() });
export type ResetJob = z.infer<typeof ResetJobSchema>;

/** `changeId` names one change the watcher saw (its job id and the event's dedupe key: a retry appends once). */
export const MailboxesChangedJobSchema = z.object({ accountId: AccountIdSchema, changeId: z.string().min(1).max(64) });
export type MailboxesChangedJob = z.infer<typeof MailboxesChangedJobSchema>;

/**
 * The asking gateway's reply channel (`redisChannels.commandReplies(replyTo)`): the fetcher
 * publishes the command's answer there ({@link CommandReply}) instead of leaving it under a
 * reference for the gateway to collect after BullMQ's completed event. Absent: the result goes by
 * reference ({@link CommandJobOutcome}), as gateways before the reply channel expect.
 */
export const CommandReplyToSchema = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8-64 characters of A-Z a-z 0-9 _ -');
const replyField = { replyTo: CommandReplyToSchema.optional() };

export const FlagCommandJobSchema = z.object({
  accountId: AccountIdSchema,
  mailbox: MailboxNameSchema,
  uid: UidSchema,
  add: z.array(z.string().max(128)).max(32).default([]),
  remove: z.array(z.string().max(128)).max(32).default([]),
  ...replyField,
});
export type FlagCommandJob = z.infer<typeof FlagCommandJobSchema>;

export const GetCommandJobSchema = z.object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, uid: UidSchema, ...replyField });
export type GetCommandJob = z.infer<typeof GetCommandJobSchema>;

/** The mailbox commands' jobs carry the client's validated request (ownership already checked by the gateway) and the reply channel. */
export const MailboxListJobSchema = MailboxListRequestSchema.extend(replyField);
export type MailboxListJob = z.infer<typeof MailboxListJobSchema>;
export const MessageListJobSchema = MessageListRequestSchema.extend(replyField);
export type MessageListJob = z.infer<typeof MessageListJobSchema>;
export const MessageSearchJobSchema = MessageSearchRequestSchema.extend(replyField);
export type MessageSearchJob = z.infer<typeof MessageSearchJobSchema>;
export const MessageMoveJobSchema = MessageMoveRequestSchema.extend(replyField);
export type MessageMoveJob = z.infer<typeof MessageMoveJobSchema>;
export const MessageDeleteJobSchema = MessageDeleteRequestSchema.extend(replyField);
export type MessageDeleteJob = z.infer<typeof MessageDeleteJobSchema>;

/** The message itself is stored under the send key; the job names it. */
export const SendJobSchema = z.object({ accountId: AccountIdSchema, sendId: z.string().min(1) });
export type SendJob = z.infer<typeof SendJobSchema>;

/** Queue → job name → payload type. Producers and processors are typed through this map. */
export interface JobPayloads {
  [QueueName.MailboxEvents]: {
    [MailboxJobName.Fetch]: FetchJob;
    [MailboxJobName.Flags]: FlagsJob;
    [MailboxJobName.Deleted]: DeletedJob;
    [MailboxJobName.Reset]: ResetJob;
    [MailboxJobName.MailboxesChanged]: MailboxesChangedJob;
  };
  [QueueName.ImapCommands]: {
    [ImapCommandJobName.Flag]: FlagCommandJob;
    [ImapCommandJobName.Get]: GetCommandJob;
    [ImapCommandJobName.MailboxList]: MailboxListJob;
    [ImapCommandJobName.MessageList]: MessageListJob;
    [ImapCommandJobName.MessageSearch]: MessageSearchJob;
    [ImapCommandJobName.MessageMove]: MessageMoveJob;
    [ImapCommandJobName.MessageDelete]: MessageDeleteJob;
  };
  [QueueName.Send]: {
    [SendJobName.Send]: SendJob;
  };
}

export type JobNameOf<Q extends QueueName> = keyof JobPayloads[Q] & string;
export type JobPayloadOf<Q extends QueueName, N extends JobNameOf<Q>> = JobPayloads[Q][N];

export const jobSchemas = {
  [QueueName.MailboxEvents]: {
    [MailboxJobName.Fetch]: FetchJobSchema,
    [MailboxJobName.Flags]: FlagsJobSchema,
    [MailboxJobName.Deleted]: DeletedJobSchema,
    [MailboxJobName.Reset]: ResetJobSchema,
    [MailboxJobName.MailboxesChanged]: MailboxesChangedJobSchema,
  },
  [QueueName.ImapCommands]: {
    [ImapCommandJobName.Flag]: FlagCommandJobSchema,
    [ImapCommandJobName.Get]: GetCommandJobSchema,
    [ImapCommandJobName.MailboxList]: MailboxListJobSchema,
    [ImapCommandJobName.MessageList]: MessageListJobSchema,
    [ImapCommandJobName.MessageSearch]: MessageSearchJobSchema,
    [ImapCommandJobName.MessageMove]: MessageMoveJobSchema,
    [ImapCommandJobName.MessageDelete]: MessageDeleteJobSchema,
  },
  [QueueName.Send]: { [SendJobName.Send]: SendJobSchema },
} as const satisfies { [Q in QueueName]: { [N in JobNameOf<Q>]: z.ZodType<JobPayloads[Q][N], z.ZodTypeDef, unknown> } };

/**
 * What a command's result is: the fetcher publishes it to the asking gateway ({@link CommandReply}),
 * or leaves it under `redisKeys.commandResult(ref)` for {@link COMMAND_RESULT_TTL_SECONDS} when it
 * is large or the job named no reply channel; the gateway reads it once, deletes it, and acks the
 * client with it.
 */
export interface ImapCommandResults {
  [ImapCommandJobName.Flag]: { flags: string[] };
  [ImapCommandJobName.Get]: { message: import('./messages').FullMessageNewEvent | import('./messages').ParsedMessage };
  /** `watched` is the gateway's to fill in: it knows the account's watched folders. */
  [ImapCommandJobName.MailboxList]: { mailboxes: Array<Omit<MailboxInfo, 'watched'>> };
  [ImapCommandJobName.MessageList]: MessagePage;
  [ImapCommandJobName.MessageSearch]: MessagePage;
  [ImapCommandJobName.MessageMove]: { moved: MovedMessage[] };
  [ImapCommandJobName.MessageDelete]: { deleted: number[] };
}

/**
 * What a command job returns. BullMQ copies a job's return value into the job hash and into the
 * queue's events stream, so a result (a whole message for `message.get`) travels by reference
 * instead, and an expected failure is a code rather than an error text to be matched.
 */
export type CommandJobOutcome = { ok: true; ref: string } | { ok: true; published: true } | { ok: false; code: CommandFailureCode };
/** `not_found`: no such message or mailbox on the IMAP server. */
export type CommandFailureCode = 'not_found';

/** How long a command result waits to be picked up; past the gateway's wait, nobody will. */
export const COMMAND_RESULT_TTL_SECONDS = 120;

/**
 * A command's answer on the gateway's reply channel, `id` being the job's id. The result travels
 * inline, or by reference (`ref`, as in {@link CommandJobOutcome}) when it is too large for a
 * pub/sub message. `internal`: the command failed for good (its last attempt threw); the job
 * itself fails in BullMQ as before.
 */
export type CommandReply = { id: string } & (
  | { ok: true; result: ImapCommandResults[ImapCommandJobName] }
  | { ok: true; ref: string }
  | { ok: false; code: CommandFailureCode | 'internal' }
);

/**
 * The read-only commands (`mailbox.list`, `message.list`, `message.search`) skip BullMQ: the
 * gateway pushes a {@link FastCommandRequest} onto `redisKeys.commandRequests` and a fetcher pops
 * it with BRPOP, one hop where a job costs BullMQ's add script, the worker's wake-up on its marker
 * and its moveToActive script. What BullMQ would add (a request kept while no fetcher runs, taken
 * over from a fetcher that dies) is not needed: the gateway waits at most `COMMAND_TIMEOUT_MS`,
 * and a page or a search is safe to ask again. Commands that change mail stay jobs.
 */
export const FAST_COMMANDS = [ImapCommandJobName.MailboxList, ImapCommandJobName.MessageList, ImapCommandJobName.MessageSearch] as const;
export type FastCommandName = (typeof FAST_COMMANDS)[number];
export const isFastCommand = (name: ImapCommandJobName): name is FastCommandName => (FAST_COMMANDS as readonly string[]).includes(name);

export const FastCommandRequestSchema = z.object({
  /** Echoed in the {@link CommandReply}. */
  id: z.string().min(1).max(128),
  name: z.enum(FAST_COMMANDS),
  replyTo: CommandReplyToSchema,
  /** Epoch ms after which nobody waits for the answer: a fetcher drops the request unrun. */
  deadline: z.number(),
  /** Validated by the fetcher against `jobSchemas` for `name`, as a job's data is. */
  payload: z.unknown(),
  /**
   * Set on a first page of `message.list` the gateway may cache (libs/page-cache): the fetcher
   * stores its answer under `field` if the account's event log still ends at `token`.
   */
  page: z.object({ field: z.string().min(1).max(1100), token: z.string().min(1).max(64), ttlSeconds: z.number().int().min(1).max(86_400) }).optional(),
});
/** The cache ticket of a {@link FastCommandRequest} (libs/page-cache's PageTicket). */
export type FastCommandPageTicket = NonNullable<z.infer<typeof FastCommandRequestSchema>['page']>;
export type FastCommandRequest = {
  [N in FastCommandName]: { id: string; name: N; replyTo: string; deadline: number; payload: JobPayloadOf<QueueName.ImapCommands, N>; page?: FastCommandPageTicket };
}[FastCommandName];
