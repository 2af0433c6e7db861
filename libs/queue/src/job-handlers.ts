import { JobNameOf, JobPayloadOf, QueueName, jobSchemas } from '@pushmail/contracts';
import { UnrecoverableError } from 'bullmq';

/**
 * One handler per job name of queue `Q`, each given its payload already checked against the
 * contract (`jobSchemas`), and `context`: what the consumer passes along (the BullMQ job, or
 * nothing where a request did not come as a job). The mapped type makes a missing name a compile
 * error; {@link JobHandlerTable} checks the same again at start-up.
 */
export type JobHandlers<Q extends QueueName, R, C = undefined> = {
  readonly [N in JobNameOf<Q>]: (data: JobPayloadOf<Q, N>, context: C) => Promise<R>;
};

/**
 * A job no retry can fix: a name its queue does not have, or a payload its contract refuses.
 * BullMQ fails an UnrecoverableError at once instead of backing off through every attempt.
 */
export class InvalidJobError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidJobError';
  }
}

/**
 * A queue's consumer in one table (immich's `JobRepository.setup()`): the handler for every job
 * name, and the payload validation for all of them in one place. A job crossed a process boundary
 * through Redis, written by another process that may run another version, so nothing in it is
 * trusted before it is parsed.
 */
export class JobHandlerTable<Q extends QueueName, R, C = undefined> {
  private readonly byName: ReadonlyMap<string, (data: unknown, context: C) => Promise<R>>;

  /** Throws, naming them, when `handlers` lacks a job name of `queue` or has one the queue does not. */
  constructor(
    readonly queue: Q,
    handlers: JobHandlers<Q, R, C>,
  ) {
    const names = Object.keys(jobSchemas[queue]);
    const given = Object.keys(handlers);
    const missing = names.filter((name) => !given.includes(name));
    const unknown = given.filter((name) => !names.includes(name));
    if (missing.length || unknown.length) {
      const parts = [missing.length ? `no handler for ${missing.join(', ')}` : '', unknown.length ? `a handler for ${unknown.join(', ')}, which the queue does not have` : ''];
      throw new Error(`the ${queue} queue's handler table is incomplete: ${parts.filter(Boolean).join('; ')}`);
    }
    // Widened once, here: run() gives each handler only a payload its own schema accepted.
    this.byName = new Map(Object.entries(handlers as Record<string, (data: unknown, context: C) => Promise<R>>));
  }

  /** Validates `data` as the payload of job `name` and runs its handler; {@link InvalidJobError} when either is wrong. */
  run(name: string, data: unknown, context: C): Promise<R> {
    const handler = this.byName.get(name);
    if (!handler) return Promise.reject(new InvalidJobError(`unknown job "${name}" on the ${this.queue} queue`));
    const schemas: Record<string, { safeParse(value: unknown): { success: true; data: unknown } | { success: false; error: { message: string } } }> = jobSchemas[this.queue];
    const parsed = schemas[name].safeParse(data);
    if (!parsed.success) return Promise.reject(new InvalidJobError(`invalid job payload (${this.queue} ${name}): ${parsed.error.message}`));
    return handler(parsed.data, context);
  }
}
