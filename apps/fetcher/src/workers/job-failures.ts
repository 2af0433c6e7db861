import { UnrecoverableError } from 'bullmq';
import { PermanentJobError } from '../errors';

/**
 * Whether retrying cannot help: a service's PermanentJobError, or an UnrecoverableError (the job
 * table's InvalidJobError for a payload its contract refuses).
 */
export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentJobError || err instanceof UnrecoverableError;
}

/** Rethrows every failure: permanent ones as UnrecoverableError (no retries), the rest as they are. */
export async function asJobFailure<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PermanentJobError) throw new UnrecoverableError(err.message);
    throw err;
  }
}
