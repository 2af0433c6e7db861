import { UnrecoverableError } from 'bullmq';
import { InvalidJobError, PermanentJobError } from '../errors';

/** A malformed payload will not get better by retrying. */
export function valid<T>(schema: { safeParse(data: unknown): { success: true; data: T } | { success: false; error: { message: string } } }, data: unknown): T {
  const result = schema.safeParse(data);
  if (!result.success) throw new InvalidJobError(result.error.message);
  return result.data;
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
