import { baseEnvSchema, env, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

/** The CLI runs with the same Redis and keys as the apps (same Secret, same image). */
export const cliEnvSchema = baseEnvSchema.extend({
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
});
export type CliEnv = z.infer<typeof cliEnvSchema>;
