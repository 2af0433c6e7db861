/** A counting semaphore; waiters are served in arrival order. */
export class Semaphore {
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  get inUse(): number {
    return this.active;
  }

  async acquire(): Promise<() => void> {
    if (this.active < this.limit) {
      this.active++;
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.active--;
    };
  }
}

/**
 * Caps concurrent logins per watcher and per IMAP host: a restart with thousands of accounts
 * connects at a steady pace instead of tripping the server's (or provider's) connection limits.
 */
export class LoginLimiter {
  private readonly global: Semaphore;
  private readonly perHost = new Map<string, Semaphore>();

  constructor(
    globalLimit: number,
    private readonly hostLimit: number,
  ) {
    this.global = new Semaphore(globalLimit);
  }

  async run<T>(host: string, login: () => Promise<T>): Promise<T> {
    let hostSemaphore = this.perHost.get(host);
    if (!hostSemaphore) {
      hostSemaphore = new Semaphore(this.hostLimit);
      this.perHost.set(host, hostSemaphore);
    }
    const releaseHost = await hostSemaphore.acquire();
    const releaseGlobal = await this.global.acquire();
    try {
      return await login();
    } finally {
      releaseGlobal();
      releaseHost();
      if (hostSemaphore.inUse === 0) this.perHost.delete(host);
    }
  }
}
