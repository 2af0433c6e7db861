import { z } from 'zod';

export const accountStates = ['connecting', 'connected', 'auth_failed', 'error', 'disconnected'] as const;
export const AccountStateSchema = z.enum(accountStates);
export type AccountState = z.infer<typeof AccountStateSchema>;

/** Rejects CR and LF: a header value with either is a header-injection attempt. */
export const headerSafeString = (max = 998) =>
  z.string().max(max).refine((v) => !/[\r\n]/.test(v), { message: 'must not contain CR or LF' });

export const MailboxNameSchema = z.string().min(1).max(512).refine((v) => !/[\r\n\0]/.test(v), { message: 'invalid mailbox name' });
export const UidSchema = z.number().int().positive();
/** UIDVALIDITY is a 32-bit unsigned value, so a JS number holds it exactly (imapflow hands it over as a BigInt). */
export const UidValiditySchema = z.number().int().nonnegative().max(0xffffffff);
export const AccountIdSchema = z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'must be [A-Za-z0-9_-]');
/** At most 40 characters (two 64-bit numbers and a dash): a longer `since` is refused before any regex or BigInt sees it. */
export const EventIdSchema = z.string().max(40).regex(/^\d+-\d+$/, 'must be a stream id <ms>-<seq>');

export const AddressSchema = z.object({ name: z.string().default(''), address: z.string() });
export type Address = z.infer<typeof AddressSchema>;
