import { INestApplication } from '@nestjs/common';
import { signClientToken } from '@pushmail/auth';
import { Ack, ClientCommand, ClientToServerEvents, ParsedMessage, ServerEvent, ServerToClientEvents } from '@pushmail/contracts';
import { UnloggedPayload } from '@pushmail/event-log';
import { freePort, testEnv } from '@pushmail/testing';
import { io, Socket } from 'socket.io-client';
import { bootstrap } from '../src/bootstrap';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
export const JWT_SECRET = testEnv('redis://x').AUTH_JWT_SECRET!;
export const ADMIN_TOKEN = testEnv('redis://x').ADMIN_TOKEN!;

/** Fast settings for tests; override what a test is about. */
export function gatewayEnv(redisUrl: string, overrides: Record<string, string | undefined> = {}) {
  return testEnv(redisUrl, { SHUTDOWN_DRAIN_MS: '200', SEND_RETRY_DELAY_MS: '50', COMMAND_TIMEOUT_MS: '5000', ...overrides });
}

export async function startGateway(redisUrl: string, overrides: Record<string, string | undefined> = {}): Promise<{ app: INestApplication; url: string }> {
  const port = await freePort();
  const app = await bootstrap({ env: gatewayEnv(redisUrl, { PORT: String(port), ...overrides }) });
  return { app, url: `http://127.0.0.1:${port}` };
}

export const tokenFor = (userId: string, expiresInSeconds = 3600) => signClientToken(userId, JWT_SECRET, { expiresInSeconds });

/** A connected client, or the connect_error message when refused. */
export function connect(url: string, token: string | undefined): Promise<ClientSocket> {
  const socket: ClientSocket = io(url, { path: '/socket.io', transports: ['websocket'], auth: token === undefined ? {} : { token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Emits a command and resolves with its ack. */
export function call<N extends `${ClientCommand}`>(socket: ClientSocket, event: N, payload: unknown, timeoutMs = 10_000): Promise<AckOf<Extract<ClientCommand, N>>> {
  // Tests send malformed payloads on purpose, so the payload is not typed here. The same socket
  // seen through socket.io's default (untyped) event maps takes any name and payload; its ack
  // comes back untyped and is typed by this function's return type, from the contract.
  const untyped: Socket = socket;
  return untyped.timeout(timeoutMs).emitWithAck(event, payload);
}
type AckOf<E extends keyof ClientToServerEvents> = Parameters<Parameters<ClientToServerEvents[E]>[1]>[0];

/** Records every event a client gets, in order. */
export function record(socket: ClientSocket): Array<{ name: string; payload: { eventId?: string } & Record<string, unknown> }> {
  const seen: Array<{ name: string; payload: { eventId?: string } & Record<string, unknown> }> = [];
  socket.onAny((name: string, payload: { eventId?: string } & Record<string, unknown>) => seen.push({ name, payload }));
  return seen;
}

export function newMessage(accountId: string, uid: number, overrides: Partial<ParsedMessage> = {}): UnloggedPayload<ServerEvent.MessageNew> {
  return {
    accountId,
    mailbox: 'INBOX',
    uid,
    uidValidity: 1,
    messageId: `<m${uid}@example.test>`,
    subject: `message ${uid}`,
    from: { name: 'Sender', address: 'sender@example.test' },
    to: [{ name: '', address: 'alice@example.test' }],
    cc: [],
    date: new Date().toISOString(),
    receivedAt: new Date().toISOString(),
    flags: [],
    size: 100,
    preview: 'hello',
    text: 'hello',
    html: null,
    attachments: [],
    ...overrides,
  };
}

export const okAck = <T extends object>(ack: Ack<T>): T & { ok: true } => {
  if (!ack.ok) throw new Error(`expected ok ack, got ${JSON.stringify(ack)}`);
  return ack;
};

export { ServerEvent };
