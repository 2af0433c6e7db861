/**
 * Where the client keeps the last eventId it has seen per account, so a reconnect resumes with
 * `since` exactly after it. A page can keep them in memory; a long-lived integration may persist them.
 */
export interface CursorStore {
  get(accountId: string): string | undefined;
  set(accountId: string, eventId: string): void;
  delete(accountId: string): void;
}

export class MemoryCursorStore implements CursorStore {
  private readonly cursors = new Map<string, string>();

  get(accountId: string): string | undefined {
    return this.cursors.get(accountId);
  }

  set(accountId: string, eventId: string): void {
    this.cursors.set(accountId, eventId);
  }

  delete(accountId: string): void {
    this.cursors.delete(accountId);
  }
}
