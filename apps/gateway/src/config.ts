import { baseEnvSchema, env, secretKeySchema } from '@pushmail/config';
import { z } from 'zod';

export const gatewayEnvSchema = baseEnvSchema.extend({
  PORT: env.int(3000, 1, 65535),
  PUSHMAIL_SECRET_KEY: secretKeySchema,
  PUSHMAIL_SECRET_KEY_PREVIOUS: env.list([]),
  AUTH_JWT_SECRET: z.string({ required_error: 'is required (HS256 key for client tokens)' }).min(16, 'must be at least 16 characters'),
  ADMIN_TOKEN: z.string({ required_error: 'is required (bearer token for the admin API)' }).min(8, 'must be at least 8 characters'),
  CORS_ORIGINS: env.list([]),
});
export type GatewayEnv = z.infer<typeof gatewayEnvSchema>;
