import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { PIDFILE_ENV, killRecorded } from './processes';

/** Stops, by PID, everything any test file started, including after failures and crashes. */
export default function globalTeardown(): void {
  const file = process.env[PIDFILE_ENV];
  if (!file) return;
  killRecorded(file);
  rmSync(dirname(file), { recursive: true, force: true });
}
