import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { USAGE } from '../../apps/cli/src/commands';
import { envSchemas } from './support/app-contract';
import { repoRoot } from './support/kustomize';

/** docs/operations.md names files, commands and variables: each must exist, so the guide cannot rot. */
describe('docs/operations.md', () => {
  const doc = readFileSync(join(repoRoot, 'docs/operations.md'), 'utf8');
  const quoted = [...doc.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);

  it('every repository path it names exists', () => {
    const paths = quoted.filter((q) => /^(k8s|deploy|apps|libs|docs|test|scripts)\/[\w./{},*-]+$/.test(q) && !q.includes('*'));
    const expanded = paths.flatMap((p) => {
      const brace = /\{([^}]+)\}/.exec(p);
      return brace ? brace[1].split(',').map((alt) => p.replace(brace[0], alt)) : [p];
    });
    expect(expanded.length).toBeGreaterThan(5);
    expect(expanded.filter((p) => !existsSync(join(repoRoot, p)))).toEqual([]);
  });

  it('every setting it names is read by some app', () => {
    const known = new Set(Object.values(envSchemas).flatMap((schema) => Object.keys(schema.shape)));
    const variables = quoted.map((q) => q.split('=')[0]).filter((q) => /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$/.test(q) && q !== 'BULL_PREFIX');
    expect(variables.filter((v) => !known.has(v))).toEqual([]);
  });

  it('the CLI commands it uses are the ones the CLI has', () => {
    for (const command of ['reencrypt-credentials', 'check-credentials', 'requeue-failed-mail']) {
      expect(doc).toContain(command);
      expect(USAGE).toContain(command);
    }
  });
});
