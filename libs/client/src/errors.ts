import type { AckError, ErrorCode } from '@pushmail/contracts';

/** A command the gateway refused (its ack's `error`), or one that got no answer in time. */
export class PushmailError extends Error {
  constructor(
    readonly code: ErrorCode | 'timeout' | 'unauthorized' | 'http',
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'PushmailError';
  }

  static fromAck(ack: AckError): PushmailError {
    return new PushmailError(ack.error.code, ack.error.message);
  }
}
