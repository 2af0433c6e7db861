import { z } from 'zod';
import { AccountIdSchema, MailboxNameSchema, UidSchema, UidValiditySchema } from './common';
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
});
export type FetchJob = z.infer<typeof FetchJobSchema>;

export const FlagsJobSchema = z.object({ ...mailboxRef, uid: UidSchema, flags: z.array(z.string()), modseq: z.string().optional() });
export type FlagsJob = z.infer<typeof FlagsJobSchema>;

export const DeletedJobSchema = z.object({ ...mailboxRef, uid: UidSchema });
export type DeletedJob = z.infer<typeof DeletedJobSchema>;

export const ResetJobSchema = z.object({ ...mailboxRef, previousUidValidity: UidValiditySchema.optional() });
export type ResetJob = z.infer<typeof ResetJobSchema>;

export const FlagCommandJobSchema = z.object({
  accountId: AccountIdSchema,
  mailbox: MailboxNameSchema,
  uid: UidSchema,
  add: z.array(z.string().max(128)).max(32).default([]),
  remove: z.array(z.string().max(128)).max(32).default([]),
});
export type FlagCommandJob = z.infer<typeof FlagCommandJobSchema>;

export const GetCommandJobSchema = z.object({ accountId: AccountIdSchema, mailbox: MailboxNameSchema, uid: UidSchema });
export type GetCommandJob = z.infer<typeof GetCommandJobSchema>;

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
  };
  [QueueName.ImapCommands]: {
    [ImapCommandJobName.Flag]: FlagCommandJob;
    [ImapCommandJobName.Get]: GetCommandJob;
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
  },
  [QueueName.ImapCommands]: {
    [ImapCommandJobName.Flag]: FlagCommandJobSchema,
    [ImapCommandJobName.Get]: GetCommandJobSchema,
  },
  [QueueName.Send]: { [SendJobName.Send]: SendJobSchema },
} as const satisfies { [Q in QueueName]: { [N in JobNameOf<Q>]: z.ZodType<JobPayloads[Q][N], z.ZodTypeDef, unknown> } };

/**
 * What a command's result is: the fetcher leaves it under `redisKeys.commandResult(ref)` for
 * {@link COMMAND_RESULT_TTL_SECONDS}; the gateway reads it once, deletes it, and acks the client with it.
 */
export interface ImapCommandResults {
  [ImapCommandJobName.Flag]: { flags: string[] };
  [ImapCommandJobName.Get]: { message: import('./messages').MessageNewEvent | import('./messages').ParsedMessage };
}

/**
 * What a command job returns. BullMQ copies a job's return value into the job hash and into the
 * queue's events stream, so a result (a whole message for `message.get`) travels by reference
 * instead, and an expected failure is a code rather than an error text to be matched.
 */
export type CommandJobOutcome = { ok: true; ref: string } | { ok: false; code: CommandFailureCode };
/** `not_found`: no such message or mailbox on the IMAP server. */
export type CommandFailureCode = 'not_found';

/** How long a command result waits to be picked up; past the gateway's wait, nobody will. */
export const COMMAND_RESULT_TTL_SECONDS = 120;
