import { Provider } from '@nestjs/common';
import { SettingsGroup, settingsGroupProviders } from '@pushmail/config';
import { PresetProvider, ProviderPreset, providerPreset } from '@pushmail/credentials';
import { CustomSignIn, GatewayEnv } from './config';

/*
 * The gateway's settings, grouped by concern (as immich's config repository groups them). Each
 * service depends on the groups it uses, built once from the environment by `settingsProviders`,
 * instead of on the whole GatewayEnv; a spec builds a group as a plain object. Each group is an
 * abstract class so that it is its own DI token while any object with its fields satisfies it.
 * The variables themselves are described in `config.ts`. Left out: what only `bootstrap.ts` reads
 * (CORS, Socket.IO buffers, WEB_DIR).
 */

/** What a user may do with accounts: how many, how often, and the shortest POP3 poll. */
export abstract class AccountLimits {
  /** MAX_ACCOUNTS_PER_USER */
  abstract readonly maxPerUser: number;
  /** ACCOUNT_CHANGES_PER_HOUR: creations and deletions per user. */
  abstract readonly changesPerHour: number;
  /** POP3_MIN_POLL_SECONDS */
  abstract readonly pop3MinPollSeconds: number;

  static fromEnv(env: GatewayEnv): AccountLimits {
    return { maxPerUser: env.MAX_ACCOUNTS_PER_USER, changesPerHour: env.ACCOUNT_CHANGES_PER_HOUR, pop3MinPollSeconds: env.POP3_MIN_POLL_SECONDS };
  }
}

/** The admin API's bearer token and its brute-force limit. */
export abstract class AdminSettings {
  /** ADMIN_TOKEN */
  abstract readonly token: string;
  /** ADMIN_AUTH_FAILURES_PER_MINUTE, per source IP. */
  abstract readonly authFailuresPerMinute: number;

  static fromEnv(env: GatewayEnv): AdminSettings {
    return { token: env.ADMIN_TOKEN, authFailuresPerMinute: env.ADMIN_AUTH_FAILURES_PER_MINUTE };
  }
}

/** Attachment downloads: signed links, their rate, and the POP3 re-download bound. */
export abstract class PartSettings {
  /** AUTH_JWT_SECRET: part links are signed with the client tokens' key. */
  abstract readonly linkSecret: string;
  /** PART_LINK_TTL_SECONDS */
  abstract readonly linkTtlSeconds: number;
  /** PART_DOWNLOADS_PER_MINUTE, per user. */
  abstract readonly downloadsPerMinute: number;
  /** POP3_PART_RETR_MAX_BYTES */
  abstract readonly pop3RetrMaxBytes: number;

  static fromEnv(env: GatewayEnv): PartSettings {
    return {
      linkSecret: env.AUTH_JWT_SECRET,
      linkTtlSeconds: env.PART_LINK_TTL_SECONDS,
      downloadsPerMinute: env.PART_DOWNLOADS_PER_MINUTE,
      pop3RetrMaxBytes: env.POP3_PART_RETR_MAX_BYTES,
    };
  }
}

/** Each socket's command budget (a token bucket). */
export abstract class SocketSettings {
  /** SOCKET_EVENTS_PER_SECOND */
  abstract readonly eventsPerSecond: number;
  /** SOCKET_EVENTS_BURST */
  abstract readonly eventsBurst: number;

  static fromEnv(env: GatewayEnv): SocketSettings {
    return { eventsPerSecond: env.SOCKET_EVENTS_PER_SECOND, eventsBurst: env.SOCKET_EVENTS_BURST };
  }
}

/** `message.send`: its limits, its retries on the send queue and how long requests are remembered. */
export abstract class SendSettings {
  /** SEND_MAX_BYTES */
  abstract readonly maxBytes: number;
  /** SEND_RATE_PER_MINUTE, per user. */
  abstract readonly ratePerMinute: number;
  /** SEND_QUEUE_BYTES_PER_USER */
  abstract readonly queueBytesPerUser: number;
  /** SEND_RECORD_TTL_SECONDS */
  abstract readonly recordTtlSeconds: number;
  /** SEND_ATTEMPTS */
  abstract readonly attempts: number;
  /** SEND_RETRY_DELAY_MS: the first of the exponential backoff's delays. */
  abstract readonly retryDelayMs: number;
  /** SEND_CONCURRENCY: send jobs this gateway's worker takes at once. */
  abstract readonly concurrency: number;

  static fromEnv(env: GatewayEnv): SendSettings {
    return {
      maxBytes: env.SEND_MAX_BYTES,
      ratePerMinute: env.SEND_RATE_PER_MINUTE,
      queueBytesPerUser: env.SEND_QUEUE_BYTES_PER_USER,
      recordTtlSeconds: env.SEND_RECORD_TTL_SECONDS,
      attempts: env.SEND_ATTEMPTS,
      retryDelayMs: env.SEND_RETRY_DELAY_MS,
      concurrency: env.SEND_CONCURRENCY,
    };
  }
}

/** Commands the gateway hands to the fetcher (`message.get`, `message.flag`, `message.list`, …). */
export abstract class CommandSettings {
  /** COMMAND_TIMEOUT_MS */
  abstract readonly timeoutMs: number;
  /** LIST_CACHE_SECONDS; 0 caches no first page. */
  abstract readonly listCacheSeconds: number;

  static fromEnv(env: GatewayEnv): CommandSettings {
    return { timeoutMs: env.COMMAND_TIMEOUT_MS, listCacheSeconds: env.LIST_CACHE_SECONDS };
  }
}

/** The graceful shutdown on SIGTERM. */
export abstract class ShutdownSettings {
  /** SHUTDOWN_DRAIN_MS */
  abstract readonly drainMs: number;
  /** SHUTDOWN_RECONNECT_JITTER_MS */
  abstract readonly reconnectJitterMs: number;

  static fromEnv(env: GatewayEnv): ShutdownSettings {
    return { drainMs: env.SHUTDOWN_DRAIN_MS, reconnectJitterMs: env.SHUTDOWN_RECONNECT_JITTER_MS };
  }
}

/** "Sign in with…": where browsers reach the gateway, and the providers the operator registered. */
export abstract class SignInSettings {
  /** PUBLIC_URL; unset, no provider is offered (there is no redirect URI). */
  abstract readonly publicUrl: string | undefined;
  /** Google and Microsoft, each when its OAUTH_*_CLIENT_ID is set, in that order. */
  abstract readonly presets: readonly ProviderPreset[];
  /** OAUTH_SIGNIN_CUSTOM */
  abstract readonly custom: CustomSignIn | undefined;

  static fromEnv(env: GatewayEnv): SignInSettings {
    const ids: PresetProvider[] = ['google', 'microsoft'];
    return {
      publicUrl: env.PUBLIC_URL,
      presets: ids.map((id) => providerPreset(id, env)).filter((preset) => preset !== undefined),
      custom: env.OAUTH_SIGNIN_CUSTOM,
    };
  }
}

/** Every group of this app, each provided under its own token by GatewayModule. */
export const SETTINGS_GROUPS: readonly SettingsGroup<GatewayEnv>[] = [AccountLimits, AdminSettings, PartSettings, SocketSettings, SendSettings, CommandSettings, ShutdownSettings, SignInSettings];

export function settingsProviders(env: GatewayEnv): Provider[] {
  return settingsGroupProviders(env, SETTINGS_GROUPS);
}
