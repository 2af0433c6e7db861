import { AccountView, LoggedEvent, ServerEvent } from '@pushmail/contracts';
import { compareEventIds } from '@pushmail/event-log';
import { MetricsService } from '@pushmail/observability';
import { CommandError } from '../socket/ack';
import { DeliveryTarget, DeliveryTransport } from './delivery-target';
import { SubscriptionService } from './subscription.service';

type Deps = ConstructorParameters<typeof SubscriptionService>;
const ACCOUNT = 'acc_1';
const deleted = (ms: number): LoggedEvent => ({ name: ServerEvent.MessageDeleted, payload: { eventId: `${ms}-0`, accountId: ACCOUNT, mailbox: 'INBOX', uid: ms } });

/** A client connection that records what it was sent, as `name eventId`. */
class FakeTarget implements DeliveryTarget {
  connected = true;
  readonly received: string[] = [];
  readonly accounts = new Set<string>();
  constructor(readonly id: string) {}
  async join(accountId: string): Promise<void> {
    this.accounts.add(accountId);
  }
  async leave(accountId: string): Promise<void> {
    this.accounts.delete(accountId);
  }
  send(event: LoggedEvent): void {
    this.received.push(`${event.name} ${event.payload.eventId}`);
  }
}

class FakeTransport extends DeliveryTransport {
  readonly calls: string[][] = [];
  constructor(private readonly targets: FakeTarget[]) {
    super();
  }
  sendToMany(targetIds: string[], event: LoggedEvent): void {
    this.calls.push([...targetIds]);
    for (const id of targetIds) this.targets.find((t) => t.id === id)?.send(event);
  }
}

/** The account's event log in memory. A read can be held open (`hold`) after it has taken its page, as a reply in flight. */
class FakeEventLog implements Pick<Deps[1], 'readAfter' | 'isTrimmedPast' | 'lastEventId'> {
  readonly events: LoggedEvent[] = [];
  trimmedBefore?: string;
  private held?: Promise<void>;
  private release?: () => void;

  append(...events: LoggedEvent[]): void {
    this.events.push(...events);
  }
  hold(): () => void {
    this.held = new Promise((resolve) => (this.release = resolve));
    return () => {
      this.held = undefined;
      this.release?.();
    };
  }
  async readAfter(_accountId: string, sinceId: string, count = 500): Promise<LoggedEvent[]> {
    const page = this.events.filter((e) => compareEventIds(e.payload.eventId, sinceId) > 0).slice(0, count);
    await this.held;
    return page;
  }
  async isTrimmedPast(_accountId: string, sinceId: string): Promise<boolean> {
    return this.trimmedBefore !== undefined && compareEventIds(sinceId, this.trimmedBefore) < 0;
  }
  async lastEventId(): Promise<string | null> {
    return this.events.at(-1)?.payload.eventId ?? null;
  }
}

function setup() {
  const targets = [new FakeTarget('t1'), new FakeTarget('t2')];
  const transport = new FakeTransport(targets);
  const log = new FakeEventLog();
  const view: AccountView = { id: ACCOUNT, userId: 'u1', email: 'a@example.test', mailboxes: ['INBOX'], state: 'connected', stateVersion: 1, protocol: 'imap', delivery: 'push' };
  const accounts: Deps[0] = { isOwnedBy: async (id, userId) => id === ACCOUNT && userId === 'u1', view: async () => view };
  const validities: Deps[3] = { all: async () => new Map([['INBOX', 7]]), get: async () => 7 };
  const watched: string[] = [];
  const channels: Deps[4] = { watch: async (id) => void watched.push(id), unwatch: (id) => void watched.splice(watched.indexOf(id), 1) };
  const service = new SubscriptionService(accounts, log, transport, validities, channels, new MetricsService());
  return { service, targets, transport, log, watched };
}

/** Lets the service's awaited calls run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('SubscriptionService (the replay → live seam, through DeliveryTarget)', () => {
  it('replays after `since`, then sends live events without a gap or a repeat', async () => {
    const { service, targets, log, watched } = setup();
    const [t1] = targets;
    log.append(deleted(100), deleted(200), deleted(300));
    await expect(service.subscribe(t1, 'u1', { accountId: ACCOUNT, since: '100-0' })).resolves.toEqual({ replayed: 2 });
    expect(t1.accounts.has(ACCOUNT)).toBe(true);
    expect(watched).toEqual([ACCOUNT]);
    service.deliver(ACCOUNT, deleted(300)); // late live copy of a replayed event
    log.append(deleted(400));
    service.deliver(ACCOUNT, deleted(400));
    expect(t1.received).toEqual(['message.deleted 200-0', 'message.deleted 300-0', 'message.deleted 400-0']);
  });

  it('holds live events that arrive during the replay and sends them after it, each once and in order', async () => {
    const { service, targets, log } = setup();
    const [t1] = targets;
    log.append(deleted(100), deleted(200));
    const release = log.hold();
    const subscribed = service.subscribe(t1, 'u1', { accountId: ACCOUNT, since: '0-0' });
    await settle();
    // Published while the page is on its way: one the page has, one it has not.
    service.deliver(ACCOUNT, deleted(200));
    log.append(deleted(300));
    service.deliver(ACCOUNT, deleted(300));
    expect(t1.received).toEqual([]);
    release();
    await expect(subscribed).resolves.toEqual({ replayed: 2 });
    expect(t1.received).toEqual(['message.deleted 100-0', 'message.deleted 200-0', 'message.deleted 300-0']);
  });

  it('sends nothing more to a target that went away during its replay', async () => {
    const { service, targets, log, watched } = setup();
    const [t1] = targets;
    log.append(deleted(100));
    const release = log.hold();
    const subscribed = service.subscribe(t1, 'u1', { accountId: ACCOUNT, since: '0-0' });
    await settle();
    t1.connected = false;
    service.dropTarget(t1);
    release();
    await expect(subscribed).resolves.toEqual({ replayed: 0 });
    service.deliver(ACCOUNT, deleted(200));
    expect(t1.received).toEqual([]);
    expect(service.hasSubscribers(ACCOUNT)).toBe(false);
    expect(watched).toEqual([]);
  });

  it('sends a live event to every ready target of the account in one transport call', async () => {
    const { service, targets, transport, log } = setup();
    log.append(deleted(100));
    for (const t of targets) await service.subscribe(t, 'u1', { accountId: ACCOUNT });
    log.append(deleted(200));
    service.deliver(ACCOUNT, deleted(200));
    expect(transport.calls).toEqual([['t1', 't2']]);
    for (const t of targets) expect(t.received).toEqual(['message.deleted 200-0']);
  });

  it('after the events channel dropped, catches up from the log what it missed, each event once', async () => {
    const { service, targets, log } = setup();
    const [t1] = targets;
    log.append(deleted(100));
    await service.subscribe(t1, 'u1', { accountId: ACCOUNT });
    service.holdAll();
    // Published while the channel was down (lost), then one after it came back (held).
    log.append(deleted(200), deleted(300));
    service.deliver(ACCOUNT, deleted(300));
    expect(t1.received).toEqual([]);
    await service.resyncAll();
    expect(t1.received).toEqual(['message.deleted 200-0', 'message.deleted 300-0']);
  });

  it('tells a target to reload its mailboxes when the log no longer reaches back to `since`', async () => {
    const { service, targets, log } = setup();
    const [t1] = targets;
    log.append(deleted(500), deleted(600));
    log.trimmedBefore = '500-0';
    await expect(service.subscribe(t1, 'u1', { accountId: ACCOUNT, since: '100-0' })).resolves.toEqual({ replayed: 3 });
    expect(t1.received).toEqual(['mailbox.reset 499-18446744073709551615', 'message.deleted 500-0', 'message.deleted 600-0']);
  });

  it("refuses an account the user does not own, and the target joins nothing", async () => {
    const { service, targets } = setup();
    const [t1] = targets;
    const err = await service.subscribe(t1, 'u2', { accountId: ACCOUNT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).code).toBe('forbidden');
    expect(t1.accounts.size).toBe(0);
    expect(service.hasSubscribers(ACCOUNT)).toBe(false);
  });
});
