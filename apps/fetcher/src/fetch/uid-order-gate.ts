interface Entry {
  uid: number;
  done: Promise<void>;
}

export interface OrderSlot {
  /** Resolves once every lower UID of the same mailbox that entered earlier has left. */
  waitForEarlier(): Promise<void>;
  leave(): void;
}

/**
 * Keeps one mailbox's `message.new` events in UID order within this process. Jobs run
 * concurrently (and share UID FETCHes), so without this a burst could be appended out of order;
 * a message instead waits until the lower UIDs already in flight were appended or given up.
 */
export class UidOrderGate {
  private readonly inFlight = new Map<string, Entry[]>();

  enter(mailboxKey: string, uid: number): OrderSlot {
    let entries = this.inFlight.get(mailboxKey);
    if (!entries) {
      entries = [];
      this.inFlight.set(mailboxKey, entries);
    }
    let release!: () => void;
    const entry: Entry = { uid, done: new Promise<void>((resolve) => (release = resolve)) };
    const earlier = entries.filter((e) => e.uid < uid).map((e) => e.done);
    entries.push(entry);
    let left = false;
    return {
      waitForEarlier: () => Promise.all(earlier).then(() => undefined),
      leave: () => {
        if (left) return;
        left = true;
        const list = this.inFlight.get(mailboxKey);
        if (list) {
          list.splice(list.indexOf(entry), 1);
          if (list.length === 0) this.inFlight.delete(mailboxKey);
        }
        release();
      },
    };
  }

  get size(): number {
    return this.inFlight.size;
  }
}
