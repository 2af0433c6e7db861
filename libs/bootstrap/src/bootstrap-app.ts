import { DynamicModule, INestApplication, Logger, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, LogLevel, loadDotEnv, parseEnv } from '@pushmail/config';
import { HealthService, JsonLogger } from '@pushmail/observability';
import type { z } from 'zod';

export interface AppDefinition<S extends z.ZodTypeAny> {
  name: 'watcher' | 'fetcher' | 'gateway';
  envSchema: S;
  module: (env: z.infer<S>) => DynamicModule | Type<unknown>;
  /** Extra setup between create and listen (CORS, adapters, swagger). */
  configure?: (app: INestApplication, env: z.infer<S>) => Promise<void> | void;
}

export interface BootstrapOptions {
  /** Environment to validate instead of process.env (tests). */
  env?: NodeJS.ProcessEnv;
  /** Skip reading .env (tests). */
  skipDotEnv?: boolean;
}

/**
 * Validates the environment, builds the app, and listens. Workers start in
 * onApplicationBootstrap, i.e. only once `app.init()` has wired every module.
 */
export async function bootstrapApp<S extends z.ZodTypeAny>(def: AppDefinition<S>, options: BootstrapOptions = {}): Promise<INestApplication> {
  if (!options.skipDotEnv && !options.env) loadDotEnv();
  const env = parseEnv(def.envSchema, options.env ?? process.env) as z.infer<S> & { LOG_LEVEL: LogLevel; PORT: number; INSTANCE_ID?: string };
  const logger = new JsonLogger(env.LOG_LEVEL, { app: def.name, ...(env.INSTANCE_ID ? { instance: env.INSTANCE_ID } : {}) });
  const app = await NestFactory.create(def.module(env), { logger, bufferLogs: false, abortOnError: false });
  app.enableShutdownHooks();
  await def.configure?.(app, env);
  await app.listen(env.PORT, process.env.HOST ?? '0.0.0.0');
  Logger.log({ msg: `${def.name} listening`, port: env.PORT }, 'Bootstrap');
  return app;
}

/**
 * What every main.ts calls: a bad environment exits 1 with the variables named, anything else
 * that fails at boot exits 1 with its error.
 */
export function runMain(start: () => Promise<INestApplication>): void {
  exitZeroAfterGracefulShutdown();
  start()
    .then((app) => {
      // Readiness fails from the very first moment of a graceful shutdown, in every app, so load
      // balancers and Kubernetes stop routing here while the modules drain (a fetcher still answered
      // 200 for a while after SIGTERM, until its worker had stopped). Synchronous, so it takes effect
      // before Nest's own listener starts closing anything. Here, not in bootstrapApp: tests boot
      // apps inside the Jest process, which must keep its own signal handling.
      const health = app.get(HealthService);
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => health.markShuttingDown());
    })
    .catch((err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
      } else {
        process.stderr.write(`fatal: ${(err as Error)?.stack ?? String(err)}\n`);
      }
      process.exit(1);
    });
}

/**
 * Nest's shutdown hooks close the app and then re-raise the signal, which would end the process
 * "killed by SIGTERM". Supervisors and Kubernetes read that as a crash, so the re-raised signal
 * (the second one) ends the process with 0 instead. A stuck shutdown is cut off after a deadline.
 */
function exitZeroAfterGracefulShutdown(): void {
  const deadlineMs = Number(process.env.SHUTDOWN_TIMEOUT_MS ?? 10_000) + 5_000;
  let received = 0;
  const onSignal = () => {
    received++;
    if (received === 1) {
      setTimeout(() => {
        process.stderr.write('shutdown took too long; exiting\n');
        process.exit(1);
      }, deadlineMs).unref();
      return;
    }
    process.exit(0);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
