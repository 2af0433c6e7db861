import { baseEnvSchema, env, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

export const fetcherEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3002, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
});
export type FetcherEnv = z.infer<typeof fetcherEnvSchema>;
