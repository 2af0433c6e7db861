import { Logger } from '@nestjs/common';
import { ConnectedSocket, MessageBody, OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { ClientTokenVerifier, InvalidClientTokenError } from '@pushmail/auth';
import { Ack, ClientCommand, PartLink, SubscribeAck, SubscribeBatchResult, UNAUTHORIZED, clientCommandSchemas, isSubscribeBatch } from '@pushmail/contracts';
import { MetricsService } from '@pushmail/observability';
import { z } from 'zod';
import { ImapCommandService } from '../commands/imap-command.service';
import { SocketSettings } from '../settings';
import { ShutdownService } from '../lifecycle/shutdown.service';
import { PartLinksService } from '../parts/part-links.service';
import { SubscriptionService } from '../push/subscription.service';
import { SendService } from '../send/send.service';
import { CommandError, describeZodError, fail } from './ack';
import { SocketDeliveryTarget } from './socket-delivery-target';
import { SocketEmitter } from './socket-emitter';
import { TokenBucket } from './socket-rate-limiter';
import { PushServer, PushSocket } from './socket-types';

/** The message a refused connection gets while the gateway drains. */
export const SHUTTING_DOWN = 'server_shutting_down';
const MAX_TIMER_MS = 2 ** 31 - 1;

type Request<C extends ClientCommand> = z.infer<(typeof clientCommandSchemas)[C]>;

/**
 * The Socket.IO edge, kept thin: authenticate the connection, rate-limit and validate each
 * command against the contract's schema, hand it to a service, and turn the outcome into the ack.
 */
@WebSocketGateway()
export class PushGateway implements OnGatewayInit, OnGatewayConnection, OnGatewayDisconnect {
  private readonly logger = new Logger(PushGateway.name);
  private readonly buckets = new WeakMap<PushSocket, TokenBucket>();
  private readonly expiryTimers = new WeakMap<PushSocket, NodeJS.Timeout>();
  /** Each socket as SubscriptionService sees it, made when first needed. */
  private readonly targets = new WeakMap<PushSocket, SocketDeliveryTarget>();

  constructor(
    private readonly emitter: SocketEmitter,
    private readonly verifier: ClientTokenVerifier,
    private readonly subscriptions: SubscriptionService,
    private readonly commands: ImapCommandService,
    private readonly sends: SendService,
    private readonly partLinks: PartLinksService,
    private readonly shutdown: ShutdownService,
    private readonly settings: SocketSettings,
    metrics: MetricsService,
  ) {
    const sockets = emitter;
    metrics.gauge('pushmail_socket_clients', 'Socket.IO clients connected to this gateway', [], function () {
      this.set(sockets.localClientCount());
    });
  }

  afterInit(server: PushServer): void {
    this.emitter.attach(server);
    server.use((socket, next) => {
      if (this.shutdown.isDraining) return next(new Error(SHUTTING_DOWN));
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      this.verifier
        .verify(typeof token === 'string' ? token : undefined)
        .then((identity) => {
          socket.data = { userId: identity.userId, expiresAt: identity.expiresAt };
          next();
        })
        .catch((err: unknown) => {
          this.logger.debug({ msg: 'socket refused', reason: err instanceof InvalidClientTokenError ? err.reason : 'error' });
          next(new Error(UNAUTHORIZED));
        });
    });
  }

  handleConnection(socket: PushSocket): void {
    this.buckets.set(socket, new TokenBucket(this.settings.eventsPerSecond, this.settings.eventsBurst));
    const expiresAt = socket.data.expiresAt;
    if (expiresAt) {
      // `exp` is honoured for the whole connection, not only at the handshake.
      const timer = setTimeout(() => socket.disconnect(true), Math.min(MAX_TIMER_MS, Math.max(0, expiresAt * 1000 - Date.now())));
      timer.unref();
      this.expiryTimers.set(socket, timer);
    }
  }

  handleDisconnect(socket: PushSocket): void {
    clearTimeout(this.expiryTimers.get(socket));
    // A socket that never subscribed has no target, and nothing to drop.
    const target = this.targets.get(socket);
    if (target) this.subscriptions.dropTarget(target);
  }

  private target(socket: PushSocket): SocketDeliveryTarget {
    let target = this.targets.get(socket);
    if (!target) {
      target = new SocketDeliveryTarget(socket, this.emitter);
      this.targets.set(socket, target);
    }
    return target;
  }

  @SubscribeMessage(ClientCommand.Subscribe)
  subscribe(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown): Promise<SubscribeAck> {
    // A batch is one command (one token), however many accounts it names.
    return this.run<ClientCommand.Subscribe, { replayed: number } | { results: SubscribeBatchResult[] }>(socket, ClientCommand.Subscribe, body, (req) =>
      isSubscribeBatch(req)
        ? this.subscriptions.subscribeMany(this.target(socket), socket.data.userId, req.accounts)
        : this.subscriptions.subscribe(this.target(socket), socket.data.userId, req),
    );
  }

  @SubscribeMessage(ClientCommand.Unsubscribe)
  unsubscribe(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.run(socket, ClientCommand.Unsubscribe, body, async (req) => {
      await this.subscriptions.unsubscribe(this.target(socket), req.accountId);
      return {};
    });
  }

  @SubscribeMessage(ClientCommand.MessageGet)
  getMessage(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown) {
    return this.run(socket, ClientCommand.MessageGet, body, (req) => this.commands.get(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessageFlag)
  flagMessage(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown) {
    return this.run(socket, ClientCommand.MessageFlag, body, (req) => this.commands.flag(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessageSend)
  sendMessage(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown): Promise<Ack<{ sendId: string }>> {
    return this.run(socket, ClientCommand.MessageSend, body, (req) => this.sends.submit(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessagePartLink)
  partLink(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown): Promise<Ack<PartLink>> {
    return this.run(socket, ClientCommand.MessagePartLink, body, (req) => this.partLinks.issue(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MailboxList)
  listMailboxes(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown) {
    return this.run(socket, ClientCommand.MailboxList, body, (req) => this.commands.mailboxes(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessageList)
  listMessages(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown) {
    return this.run(socket, ClientCommand.MessageList, body, (req) => this.commands.list(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessageSearch)
  searchMessages(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown) {
    return this.run(socket, ClientCommand.MessageSearch, body, (req) => this.commands.search(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessageMove)
  moveMessages(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown) {
    return this.run(socket, ClientCommand.MessageMove, body, (req) => this.commands.move(socket.data.userId, req));
  }

  @SubscribeMessage(ClientCommand.MessageDelete)
  deleteMessages(@ConnectedSocket() socket: PushSocket, @MessageBody() body: unknown): Promise<Ack> {
    return this.run(socket, ClientCommand.MessageDelete, body, (req) => this.commands.delete(socket.data.userId, req));
  }

  private async run<C extends ClientCommand, R extends object>(
    socket: PushSocket,
    command: C,
    body: unknown,
    handler: (req: Request<C>) => Promise<R>,
  ): Promise<Ack<R>> {
    if (!this.buckets.get(socket)?.take()) return fail('rate_limited', 'too many commands; slow down');
    const parsed = clientCommandSchemas[command].safeParse(body);
    if (!parsed.success) return fail('bad_request', describeZodError(parsed.error).message);
    try {
      return { ok: true, ...(await handler(parsed.data as Request<C>)) };
    } catch (err) {
      if (err instanceof CommandError) return fail(err.code, err.message);
      this.logger.error({ msg: 'command failed', command, err });
      return fail('internal', 'internal error');
    }
  }
}
