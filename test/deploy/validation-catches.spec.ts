import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { SAMPLE_SECRET_VALUES, checkAppEnv } from './support/app-contract';
import { findUnknownFields, validateSchemas, validateStrict } from './support/k8s-validate';
import { K8sObject, k8sDir, renderKustomization, renderOverlay } from './support/kustomize';

/** The checks must fail on real mistakes, or their passing means nothing. */
describe('deployment checks catch real mistakes', () => {
  const rendered = renderOverlay(k8sDir('overlays/dev')).objects;
  const clone = () => structuredClone(rendered);
  const watcher = (objects: K8sObject[]) => objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'watcher') as K8sObject & { spec: Record<string, unknown> & { template: { spec: { containers: Array<Record<string, unknown>> } } } };

  it('the unmodified overlay is clean (the baseline for the cases below)', () => {
    expect(validateStrict(rendered)).toEqual([]);
  });

  it('a string replica count', () => {
    const objects = clone();
    watcher(objects).spec.replicas = '3';
    expect(validateSchemas(objects).join('\n')).toMatch(/Deployment\/pushmail-dev\/watcher: .*replicas must be integer/);
  });

  it('a misspelt key, at the top of a spec and deep inside a container', () => {
    const top = clone();
    const spec = watcher(top).spec;
    spec.replica = spec.replicas;
    delete spec.replicas;
    expect(validateSchemas(top)).toEqual([]); // the generated validators alone miss it…
    expect(findUnknownFields(top).join('\n')).toMatch(/Deployment\/pushmail-dev\/watcher: .*'"replica"' does not exist/); // …the strict check does not

    const deep = clone();
    watcher(deep).spec.template.spec.containers[0].imagePullPolcy = 'Always';
    expect(findUnknownFields(deep).join('\n')).toMatch(/imagePullPolcy/);
  });

  it('a wrong type or format deep inside (a probe port that is neither name nor number, a bad quantity)', () => {
    const objects = clone();
    const c = watcher(objects).spec.template.spec.containers[0] as { livenessProbe: { httpGet: { port: unknown } }; resources: { limits: Record<string, unknown> } };
    c.livenessProbe.httpGet.port = true;
    c.resources.limits.memory = 'lots';
    const errors = validateSchemas(objects).join('\n');
    expect(errors).toMatch(/livenessProbe\/httpGet\/port/);
    expect(errors).toMatch(/limits\/memory must match format "quantity"/);
  });

  it('a missing required field', () => {
    const objects = clone();
    delete (objects.find((o) => o.kind === 'Service' && o.metadata.name === 'gateway')!.spec as { ports: Array<Record<string, unknown>> }).ports[0].port;
    expect(validateSchemas(objects).join('\n')).toMatch(/Service\/pushmail-dev\/gateway: .*must have required property port/);
  });

  it('the same mistakes written in an overlay are caught after rendering (kubectl and fallback alike)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-overlay-'));
    try {
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        [
          'apiVersion: kustomize.config.k8s.io/v1beta1',
          'kind: Kustomization',
          'resources:',
          `  - ${relative(dir, k8sDir('overlays/dev'))}`,
          'patches:',
          '  - target: {kind: Deployment, name: fetcher}',
          '    patch: |-',
          '      - op: add',
          '        path: /spec/replicas',
          '        value: "2"',
          '  - target: {kind: Deployment, name: gateway}',
          '    patch: |-',
          '      - op: add',
          '        path: /spec/template/spec/terminationGracePeriod',
          '        value: 30',
        ].join('\n'),
      );
      for (const objects of [renderOverlay(dir).objects, renderKustomization(dir)]) {
        const errors = validateStrict(objects).join('\n');
        expect(errors).toMatch(/Deployment\/pushmail-dev\/fetcher: .*replicas must be integer/);
        expect(errors).toMatch(/Deployment\/pushmail-dev\/gateway: .*terminationGracePeriod/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('environment contract', () => {
    const good: Record<string, string> = { ...SAMPLE_SECRET_VALUES, PORT: '3000', LOG_LEVEL: 'info' };

    it('accepts a complete environment', () => {
      expect(checkAppEnv('gateway', good, 'test')).toEqual([]);
    });

    it('a misspelt variable name, which the app would silently ignore', () => {
      const { PUSHMAIL_SECRET_KEY, ...rest } = good;
      const problems = checkAppEnv('gateway', { ...rest, PUSHMAIL_SECRET_KY: PUSHMAIL_SECRET_KEY }, 'test').join('\n');
      expect(problems).toMatch(/sets PUSHMAIL_SECRET_KY, which gateway does not read/);
      expect(problems).toMatch(/required variable PUSHMAIL_SECRET_KEY is not provided/);
    });

    it('a variable another app reads but this one does not', () => {
      expect(checkAppEnv('watcher', { ...good, PORT: '3001', ADMIN_TOKEN: 'x'.repeat(12) }, 'test').join('\n')).toMatch(/sets ADMIN_TOKEN, which watcher does not read/);
    });

    it('a value of the wrong type', () => {
      expect(checkAppEnv('fetcher', { ...good, SHUTDOWN_TIMEOUT_MS: 'ten seconds' }, 'test').join('\n')).toMatch(/SHUTDOWN_TIMEOUT_MS/);
    });
  });
});
