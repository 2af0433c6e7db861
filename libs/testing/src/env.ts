import { randomBytes } from 'node:crypto';

/** A complete, valid app environment for tests; override what the test is about. */
export function testEnv(redisUrl: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    REDIS_URL: redisUrl,
    PUSHMAIL_SECRET_KEY: TEST_SECRET_KEY,
    AUTH_JWT_SECRET: 'test-jwt-secret-0123456789abcdef',
    ADMIN_TOKEN: 'test-admin-token-0123456789',
    LOG_LEVEL: 'warn',
    // The test servers (Dovecot, the SMTP sink) listen on loopback without TLS.
    ALLOW_PRIVATE_MAIL_HOSTS: 'true',
    ALLOW_INSECURE_MAIL: 'true',
    ...overrides,
  };
}

export const TEST_SECRET_KEY = randomBytes(32).toString('base64');
