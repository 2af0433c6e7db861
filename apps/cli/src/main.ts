import { ConfigError } from '@pushmail/config';
import { runCommand } from './commands';

runCommand(process.argv.slice(2), (text) => process.stdout.write(text))
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  });
