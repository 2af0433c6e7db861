import { Injectable } from '@nestjs/common';
import { LoggedEvent, ServerEvent, ServerToClientEvents } from '@pushmail/contracts';
import { DeliveryTransport } from '../push/delivery-target';
import { PushServer, PushSocket, accountRoom, closedServers } from './socket-types';
import { UserSockets } from './user-sockets';

type Args<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>;

/**
 * The one holder of the Socket.IO server: every emit to clients goes through here and through the
 * contract's {@link ServerToClientEvents} map, so a payload that does not match cannot be sent.
 */
@Injectable()
export class SocketEmitter implements DeliveryTransport {
  private server?: PushServer;
  private readonly users = new UserSockets();

  attach(server: PushServer): void {
    this.server = server;
    // Every connection here has passed the token check, which set its userId.
    server.on('connection', (socket) => {
      const { userId } = socket.data;
      this.users.add(userId, socket.id);
      socket.once('disconnect', () => this.users.remove(userId, socket.id));
    });
  }

  get attached(): boolean {
    return !!this.server;
  }

  toSocket<E extends keyof ServerToClientEvents>(socket: PushSocket, event: E, ...args: Args<E>): void {
    socket.emit(event, ...args);
  }

  /** An event from the account's log, to one socket (replay and live push are per socket, for the seam). */
  logged(socket: PushSocket, event: LoggedEvent): void {
    switch (event.name) {
      case ServerEvent.MessageNew:
        return this.toSocket(socket, ServerEvent.MessageNew, event.payload);
      case ServerEvent.MessageFlags:
        return this.toSocket(socket, ServerEvent.MessageFlags, event.payload);
      case ServerEvent.MessageDeleted:
        return this.toSocket(socket, ServerEvent.MessageDeleted, event.payload);
      case ServerEvent.MailboxReset:
        return this.toSocket(socket, ServerEvent.MailboxReset, event.payload);
      case ServerEvent.MailboxesChanged:
        return this.toSocket(socket, ServerEvent.MailboxesChanged, event.payload);
    }
  }

  /**
   * A live event to several local sockets at once (by id): Socket.IO encodes the packet once and
   * writes it to each (every socket is in a room named after its id), instead of encoding per socket.
   */
  sendToMany(socketIds: string[], event: LoggedEvent): void {
    if (!socketIds.length) return;
    const to = this.io.local.to(socketIds);
    switch (event.name) {
      case ServerEvent.MessageNew:
        return void to.emit(ServerEvent.MessageNew, event.payload);
      case ServerEvent.MessageFlags:
        return void to.emit(ServerEvent.MessageFlags, event.payload);
      case ServerEvent.MessageDeleted:
        return void to.emit(ServerEvent.MessageDeleted, event.payload);
      case ServerEvent.MailboxReset:
        return void to.emit(ServerEvent.MailboxReset, event.payload);
      case ServerEvent.MailboxesChanged:
        return void to.emit(ServerEvent.MailboxesChanged, event.payload);
    }
  }

  /** To the account's subscribers on every gateway (through the Redis adapter). */
  toAccount<E extends keyof ServerToClientEvents>(accountId: string, event: E, ...args: Args<E>): void {
    this.io.to(accountRoom(accountId)).emit(event, ...args);
  }

  /** To the account's subscribers on this gateway only: for notices every gateway receives itself. */
  toAccountLocal<E extends keyof ServerToClientEvents>(accountId: string, event: E, ...args: Args<E>): void {
    this.io.local.to(accountRoom(accountId)).emit(event, ...args);
  }

  /** To every socket of the user on this gateway only: for notices every gateway receives itself. */
  toUserLocal<E extends keyof ServerToClientEvents>(userId: string, event: E, ...args: Args<E>): void {
    const ids = this.users.of(userId);
    if (ids.length) this.io.local.to(ids).emit(event, ...args);
  }

  /** Whether the user has a socket on this gateway (so a notice for them is worth a Redis read). */
  hasUserLocal(userId: string): boolean {
    return this.users.has(userId);
  }

  localSockets(): PushSocket[] {
    return this.server ? [...this.server.of('/').sockets.values()] : [];
  }

  localClientCount(): number {
    return this.server ? this.server.of('/').sockets.size : 0;
  }

  disconnectLocal(): void {
    this.server?.local.disconnectSockets(true);
  }

  /** Disconnects every local client and stops Socket.IO (and its adapter) while Redis is still up. */
  async close(): Promise<void> {
    const server = this.server;
    if (!server || closedServers.has(server)) return;
    closedServers.add(server);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private get io(): PushServer {
    if (!this.server) throw new Error('Socket.IO server not attached yet');
    return this.server;
  }
}
