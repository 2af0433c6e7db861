import { ClientToServerEvents, ServerToClientEvents } from '@pushmail/contracts';
import type { Server, Socket } from 'socket.io';

/** What the gateway keeps on each socket once its token was verified. */
export interface SocketData {
  userId: string;
  /** Epoch seconds when the token expires; the socket is closed then. */
  expiresAt?: number;
}

// Gateways talk to each other only through the adapter's broadcasts.
type InterServerEvents = Record<string, never>;

export type PushServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type PushSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** Every socket subscribed to an account sits in this room (for `account.state` and send results). */
export const accountRoom = (accountId: string) => `account:${accountId}`;

/** Servers already closed during the graceful shutdown; Nest's own close later skips them. */
export const closedServers = new WeakSet<object>();
