import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** This process's name among the watchers: in membership, lease values and logs. */
export class WatcherIdentity {
  readonly id: string;

  constructor(instanceId?: string) {
    // A random suffix keeps a restarted replica with the same INSTANCE_ID apart from its
    // predecessor, whose heartbeat and leases may still be alive.
    this.id = `${instanceId ?? `${hostname()}-${process.pid}`}.${randomBytes(3).toString('hex')}`;
  }
}
