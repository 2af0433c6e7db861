import { ClientCommand, ClientToServerEvents, MessageNewEvent, ServerEvent, ServerToClientEvents } from '@pushmail/contracts';
import { Socket, io } from 'socket.io-client';
import { now } from '../lib/clock';
import { eachLimited } from '../lib/imap-clients';
import { serveWorker } from '../lib/worker';

/**
 * Socket.IO clients as a browser would run them (websocket transport), each subscribed to one
 * account, stamping every `message.new` on arrival.
 */
export interface ClientSpec {
  url: string;
  token: string;
  accountId: string;
}
export interface ReceivedEvent {
  accountId: string;
  eventId: string;
  messageId: string | null;
  subject: string;
  at: number;
}

const sockets: Array<Socket<ServerToClientEvents, ClientToServerEvents>> = [];
let received: ReceivedEvent[] = [];
let errors: string[] = [];

function connectOne(spec: ClientSpec, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(spec.url, {
      auth: { token: spec.token },
      transports: ['websocket'],
      reconnection: false,
      timeout: timeoutMs,
    });
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('subscribe timed out'));
    }, timeoutMs);
    socket.on(ServerEvent.MessageNew, (event: MessageNewEvent) => {
      received.push({ accountId: event.accountId, eventId: event.eventId, messageId: event.messageId, subject: event.subject, at: now() });
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      reject(err);
    });
    socket.once('connect', () => {
      socket.emit(ClientCommand.Subscribe, { accountId: spec.accountId }, (ack) => {
        clearTimeout(timer);
        if (ack.ok) {
          sockets.push(socket);
          resolve();
        } else {
          socket.close();
          reject(new Error(`subscribe refused: ${ack.error.code}`));
        }
      });
    });
  });
}

serveWorker({
  connect: async ({ clients, parallel = 50, timeoutMs = 20_000 }: { clients: ClientSpec[]; parallel?: number; timeoutMs?: number }) => {
    const before = sockets.length;
    await eachLimited(clients, parallel, async (spec) => {
      await connectOne(spec, timeoutMs).catch((err: Error) => {
        if (errors.length < 20) errors.push(err.message);
      });
    });
    return { connected: sockets.length - before, failed: clients.length - (sockets.length - before), errors: errors.slice(0, 5) };
  },
  take: () => {
    const out = received;
    received = [];
    return out;
  },
  count: () => received.length,
  close: () => {
    for (const s of sockets) s.close();
    sockets.length = 0;
    errors = [];
    return true;
  },
});
