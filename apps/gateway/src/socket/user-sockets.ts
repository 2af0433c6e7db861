/**
 * This gateway's sockets by the user they authenticated as, for events meant for a user rather
 * than an account (`account.changed`: a socket must hear of an account added elsewhere, which it
 * has not subscribed to). A map instead of a Socket.IO room: on a Redis Cluster the sharded
 * adapter subscribes a channel per room, and these events never need the adapter (every gateway
 * receives the account notice itself).
 */
export class UserSockets {
  private readonly byUser = new Map<string, Set<string>>();

  add(userId: string, socketId: string): void {
    let ids = this.byUser.get(userId);
    if (!ids) this.byUser.set(userId, (ids = new Set()));
    ids.add(socketId);
  }

  remove(userId: string, socketId: string): void {
    const ids = this.byUser.get(userId);
    if (!ids?.delete(socketId)) return;
    if (!ids.size) this.byUser.delete(userId);
  }

  /** The user's socket ids on this gateway; empty when none. */
  of(userId: string): string[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  has(userId: string): boolean {
    return this.byUser.has(userId);
  }

  get userCount(): number {
    return this.byUser.size;
  }
}
