import { z } from 'zod';
import { MailboxNameSchema, UidSchema, UidValiditySchema } from './common';

/**
 * What a mail server's push_notification script posts to `POST /api/notify/dovecot` (one object or
 * an array of them). Only new messages come this way: expunges and flag changes keep coming
 * through IDLE, which stays the safety net for lost notifications too.
 */
export const MailNotificationSchema = z.object({
  event: z.literal('MessageNew'),
  user: z.string().min(1).max(320),
  mailbox: MailboxNameSchema,
  uidValidity: UidValiditySchema,
  uid: UidSchema,
});
export type MailNotification = z.infer<typeof MailNotificationSchema>;

/** Bounded so one request cannot make a watcher enqueue an unbounded batch. */
export const MAX_NOTIFICATIONS_PER_REQUEST = 1000;
export const MailNotificationBodySchema = z.union([MailNotificationSchema, z.array(MailNotificationSchema).min(1).max(MAX_NOTIFICATIONS_PER_REQUEST)]);
export type MailNotificationBody = z.infer<typeof MailNotificationBodySchema>;

/** What the ingress answers with 202: how many notifications became fetch jobs, and how many matched no account. */
export interface MailNotificationResult {
  mapped: number;
  unmapped: number;
}
