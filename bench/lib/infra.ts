import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { AppName, AppProcess, REPO_ROOT, TestDovecot, TestRedis, testEnv } from '@pushmail/testing';

/**
 * Dovecot sized for thousands of sessions. The template already shares imap processes (100
 * sessions each); on top: more sessions per user (watcher + fetcher pool + poller on one account),
 * and master/anvil/auth limits above the session count, or Dovecot refuses logins under load.
 */
export const BENCH_DOVECOT_CONFIG = `
mail_fsync = never
mail_max_userip_connections = 200
default_client_limit = 20000
default_vsz_limit = 1G
service imap {
  process_limit = 200
}
service imap-login {
  client_limit = 5000
  process_min_avail = 4
}
`;

export const USER_DOMAIN = 'bench.pushmail.test';
export const userName = (prefix: string, i: number) => `${prefix}${i}@${USER_DOMAIN}`;
export const PASSWORD = 'bench-secret';

export function makeUsers(prefix: string, count: number): Record<string, string> {
  const users: Record<string, string> = {};
  for (let i = 0; i < count; i++) users[userName(prefix, i)] = PASSWORD;
  return users;
}

export async function startDovecot(users: Record<string, string>): Promise<TestDovecot> {
  return TestDovecot.start({ users, extraConfig: BENCH_DOVECOT_CONFIG });
}

/**
 * Redis as docs/operations.md deploys it: AOF on, fsync once a second. The method text in the
 * report is written from this object, so what the report says is what ran.
 */
export const BENCH_REDIS_OPTIONS = { appendonly: true, appendfsync: 'everysec' } as const;

/** Dovecot's `mail_fsync` in the bench config above (read back from it, for the report's method text). */
export const benchDovecotMailFsync = (): string => /^\s*mail_fsync\s*=\s*(\S+)/m.exec(BENCH_DOVECOT_CONFIG)?.[1] ?? 'optimized (Dovecot default)';

export async function startRedis(): Promise<TestRedis> {
  return TestRedis.start(BENCH_REDIS_OPTIONS);
}

/** App env for the bench: quiet logs, and the apps' own tuning left at their defaults unless given. */
export function appEnv(redisUrl: string, secretKey: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return testEnv(redisUrl, { PUSHMAIL_SECRET_KEY: secretKey, LOG_LEVEL: 'warn', NODE_ENV: 'production', ...overrides });
}

export function startApp(app: AppName, env: Record<string, string | undefined>): Promise<AppProcess> {
  return AppProcess.start(app, env);
}

/** Resident set size of a process in bytes, from /proc (VmRSS). */
export function rssBytes(pid: number | undefined): number {
  if (!pid) return NaN;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  openFilesLimit: number | null;
  dovecot: string;
  redis: string;
  /** 1-minute load average when the run started: other work on the machine distorts every figure. */
  loadAvgAtStart: number;
}

function tryExec(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const limit = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    openFilesLimit: limit ? Number(limit[1]) : null,
    dovecot: tryExec('dovecot', ['--version']),
    redis: tryExec('redis-server', ['--version']).replace(/^Redis server /, '').split(' ')[0] ?? 'unknown',
    loadAvgAtStart: Math.round(loadavg()[0] * 100) / 100,
  };
}

export function gitInfo(): { commit: string; dirty: boolean; subject: string } {
  const commit = tryExec('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD']);
  const status = tryExec('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']);
  const subject = tryExec('git', ['-C', REPO_ROOT, 'log', '-1', '--format=%s']);
  return { commit, dirty: status !== '' && status !== 'unknown', subject };
}

export function appBuilt(app: AppName): boolean {
  return existsSync(`${REPO_ROOT}/dist/apps/${app}/main.js`);
}
