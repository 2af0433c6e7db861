import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

/** Below this a secret is too guessable for a request that makes watchers fetch mail. */
export const MIN_NOTIFY_SECRET_LENGTH = 24;

const NotifySourceSchema = z
  .object({
    name: z.string().min(1).max(64).regex(/^[A-Za-z0-9_.-]+$/, 'must be [A-Za-z0-9_.-]'),
    secret: z.string().min(MIN_NOTIFY_SECRET_LENGTH, `must be at least ${MIN_NOTIFY_SECRET_LENGTH} characters`).max(1024),
    /** The IMAP host names accounts use for this mail server: a notification maps only to accounts on them. */
    imapHosts: z.array(z.string().min(1).max(253)).min(1).max(100),
  })
  .strict();
export type NotifySource = z.infer<typeof NotifySourceSchema>;

/**
 * `NOTIFY_SOURCES`: the mail servers allowed to post push notifications, e.g.
 * `[{"name":"dc1","secret":"…","imapHosts":["imap.example.com"]}]`. Empty (the default) turns the
 * ingress off: every request is 401. Secrets must differ, since the secret is what names the source.
 */
export const notifySourcesSchema = z
  .string()
  .default('[]')
  .transform((raw, ctx) => {
    // Compose passes an unset variable as an empty string: off, like the default.
    if (!raw.trim()) return [];
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      // Never echo the value: it holds secrets.
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be a JSON array of { name, secret, imapHosts }' });
      return z.NEVER;
    }
  })
  .pipe(
    z
      .array(NotifySourceSchema)
      .max(100)
      .superRefine((sources, ctx) => {
        const names = new Set<string>();
        const secrets = new Set<string>();
        for (const [i, source] of sources.entries()) {
          if (names.has(source.name)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'name'], message: 'names must be unique' });
          if (secrets.has(source.secret)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i, 'secret'], message: 'secrets must differ between sources' });
          names.add(source.name);
          secrets.add(source.secret);
        }
      }),
  );

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Finds the source a bearer secret belongs to. Every source's secret is compared, in constant time
 * over equal-length digests, so neither the length of a secret nor which source matched shows in
 * the response time.
 */
export class NotifySourceMatcher {
  private readonly digests: Array<{ source: NotifySource; digest: Buffer }>;

  constructor(sources: readonly NotifySource[]) {
    this.digests = sources.map((source) => ({ source, digest: digest(source.secret) }));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  match(authorization: string | undefined): NotifySource | null {
    const m = /^Bearer (.+)$/.exec(authorization ?? '');
    const presented = digest(m ? m[1] : '');
    let found: NotifySource | null = null;
    for (const { source, digest: expected } of this.digests) {
      if (timingSafeEqual(presented, expected) && m) found = source;
    }
    return found;
  }
}
