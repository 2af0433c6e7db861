import { LoggedEvent } from '@pushmail/contracts';
import { DeliveryTarget } from '../push/delivery-target';
import { SocketEmitter } from './socket-emitter';
import { PushSocket, accountRoom } from './socket-types';

/**
 * A Socket.IO socket as a delivery target. Subscribing puts it in the account's room, which is how
 * the account's unlogged notices (`account.state`, send results) reach it from every gateway.
 */
export class SocketDeliveryTarget implements DeliveryTarget {
  constructor(
    private readonly socket: PushSocket,
    private readonly emitter: SocketEmitter,
  ) {}

  get id(): string {
    return this.socket.id;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  async join(accountId: string): Promise<void> {
    await this.socket.join(accountRoom(accountId));
  }

  async leave(accountId: string): Promise<void> {
    await this.socket.leave(accountRoom(accountId));
  }

  send(event: LoggedEvent): void {
    this.emitter.logged(this.socket, event);
  }
}
