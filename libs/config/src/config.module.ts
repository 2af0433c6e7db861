import { DynamicModule, Global, Module } from '@nestjs/common';
import { BaseEnv } from './env';

/** The app's validated environment, read once at boot. */
export class ConfigService<T extends BaseEnv = BaseEnv> {
  constructor(readonly env: Readonly<T>) {}

  get<K extends keyof T>(key: K): T[K] {
    return this.env[key];
  }
}

@Global()
@Module({})
export class ConfigModule {
  static forRoot<T extends BaseEnv>(env: T): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: ConfigService, useValue: new ConfigService(env) }],
      exports: [ConfigService],
    };
  }
}
