import { Provider } from '@nestjs/common';

/**
 * A settings group: an abstract class that is its own DI token, whose static `fromEnv` builds it
 * from the app's validated environment (each app declares its groups in its `settings.ts`).
 */
export type SettingsGroup<E> = (abstract new () => object) & { fromEnv(env: E): object };

/** One provider per group, each built from the environment once, at start. */
export function settingsGroupProviders<E>(env: E, groups: readonly SettingsGroup<E>[]): Provider[] {
  return groups.map((group) => ({ provide: group, useValue: group.fromEnv(env) }));
}
