import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Where `npm start` keeps its state (secrets, Redis data, logs, demo mail): `./.pushmail/` by default. */
export function dataDir(override) {
  return resolve(override ?? process.env.PUSHMAIL_HOME ?? join(REPO_ROOT, '.pushmail'));
}
