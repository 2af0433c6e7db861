import { BadRequestException, PipeTransform } from '@nestjs/common';
import type { ZodTypeAny, z } from 'zod';
import { describeZodError } from '../socket/ack';

/** Validates a body with a contract schema; a 400 names the first bad field (never echoes its value). */
export class ZodValidationPipe<S extends ZodTypeAny> implements PipeTransform<unknown, z.infer<S>> {
  constructor(
    private readonly schema: S,
    /** Names the value in errors when it is not a body, e.g. a query parameter. */
    private readonly name?: string,
  ) {}

  transform(value: unknown): z.infer<S> {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const { field, message } = describeZodError(result.error, this.name);
    throw new BadRequestException({ statusCode: 400, error: 'Bad Request', message, field });
  }
}
