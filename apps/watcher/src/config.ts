import { baseEnvSchema, env, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

export const watcherEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3001, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
});
export type WatcherEnv = z.infer<typeof watcherEnvSchema>;
