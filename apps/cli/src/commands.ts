import { NestFactory } from '@nestjs/core';
import { describeRedisTarget, loadDotEnv, parseEnv, redisTarget } from '@pushmail/config';
import { QueueName } from '@pushmail/contracts';
import { JsonLogger, redactString } from '@pushmail/observability';
import { QueueService } from '@pushmail/queue';
import { CliModule } from './cli.module';
import { cliEnvSchema } from './config';
import { CredentialReport, CredentialRotationService } from './credential-rotation.service';

export const USAGE = `usage: pushmail cli <command>

commands:
  reencrypt-credentials   re-encrypt every account's stored IMAP/SMTP settings with
                          PUSHMAIL_SECRET_KEY (old values are read with PUSHMAIL_SECRET_KEY_PREVIOUS),
                          bound to their account and field (legacy unbound values are migrated)
  check-credentials       report which key each account's settings are encrypted with;
                          exits 2 while any account is not on PUSHMAIL_SECRET_KEY or not bound
  requeue-failed-mail     put the mailbox jobs that failed for good (retries or stall limit
                          exhausted) back in the queue with fresh attempts, so their mail is pushed

Environment: REDIS_URL (or REDIS_SENTINELS + REDIS_SENTINEL_NAME), PUSHMAIL_SECRET_KEY, PUSHMAIL_SECRET_KEY_PREVIOUS (as for the apps).
Output: one JSON line on stdout. Exit codes: 0 done, 1 error, 2 accounts left on older keys or unbound, or failed jobs left unreadable.
`;

const CONNECT_TIMEOUT_MS = 15_000;

function withDeadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]);
}

/** Exit status: the rotation is finished only when every account is on the current key, bound. */
const statusOf = (report: CredentialReport) => (report.onPreviousKey === 0 && report.unbound === 0 && report.unreadable.length === 0 ? 0 : 2);

/** Runs one command and returns the process exit code; output goes through `write`. */
export async function runCommand(argv: string[], write: (line: string) => void, source: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command] = argv;
  if (!command || command === '--help' || command === 'help') {
    write(USAGE);
    return command ? 0 : 1;
  }
  if (command !== 'reencrypt-credentials' && command !== 'check-credentials' && command !== 'requeue-failed-mail') {
    write(`unknown command "${command}"\n\n${USAGE}`);
    return 1;
  }
  if (source === process.env) loadDotEnv();
  const env = parseEnv(cliEnvSchema, source);
  // Logs go to stderr so stdout carries only the result.
  const logger = new JsonLogger(env.LOG_LEVEL, { app: 'cli' }, (line) => process.stderr.write(line + '\n'));
  // Startup waits for Redis (the apps retry forever); a one-shot command should fail instead.
  const app = await withDeadline(
    NestFactory.createApplicationContext(CliModule.forRoot(env), { logger, abortOnError: false }),
    CONNECT_TIMEOUT_MS,
    `Redis at ${redactString(describeRedisTarget(redisTarget(env)))} did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`,
  );
  try {
    if (command === 'requeue-failed-mail') {
      const { requeued, unreadable } = await app.get(QueueService).requeueFailed(QueueName.MailboxEvents);
      // A job whose data no longer matches its schema is left where it was found, for a person to look at.
      write(JSON.stringify(unreadable ? { command, requeued, unreadable } : { command, requeued }) + '\n');
      return unreadable ? 2 : 0;
    }
    const rotation = app.get(CredentialRotationService);
    if (command === 'reencrypt-credentials') {
      const { reencrypted, report } = await rotation.reencrypt();
      write(JSON.stringify({ command, reencrypted, ...report }) + '\n');
      return statusOf(report);
    }
    const report = await rotation.check();
    write(JSON.stringify({ command, ...report }) + '\n');
    return statusOf(report);
  } finally {
    await app.close();
  }
}
