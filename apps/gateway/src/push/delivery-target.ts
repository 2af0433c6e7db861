import { LoggedEvent } from '@pushmail/contracts';

/**
 * One client connection that subscribes to accounts and is sent their logged events. The
 * subscription logic (replay after `since`, the replay → live seam, order, no event twice) speaks
 * only to this interface, not to a transport (as Novu's push providers sit behind one interface):
 * a Socket.IO socket is one today ({@link SocketDeliveryTarget}); a Server-Sent Events stream or a
 * web-push subscription would be another, with the same guarantees.
 */
export interface DeliveryTarget {
  /** Unique among this gateway's connected targets. */
  readonly id: string;
  /** False once the client has gone: nothing more is sent to it, and a replay under way stops. */
  readonly connected: boolean;
  /** Subscribed to the account: from now on the target also gets the account's notices that are not logged (`account.state`, send results). */
  join(accountId: string): Promise<void>;
  leave(accountId: string): Promise<void>;
  /** One logged event (replayed or live, or a `mailbox.reset`) to this client. */
  send(event: LoggedEvent): void;
}

/**
 * The transport's side of a live event: one event to several of its targets at once, so it can
 * encode the event once for all of them (Socket.IO does). The gateway module provides it.
 */
export abstract class DeliveryTransport {
  abstract sendToMany(targetIds: string[], event: LoggedEvent): void;
}
