import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { K8sObject, UnsupportedKustomization, applyJson6902, k8sDir, kubectlKustomize, objectId, renderKustomization } from './support/kustomize';

const byId = (objects: K8sObject[]) => Object.fromEntries(objects.map((o) => [objectId(o), o]));
const kubectlPresent = kubectlKustomize(k8sDir('base')) !== null;

describe('fallback kustomize renderer', () => {
  // Where kubectl is installed (developer machines, this CI), the fallback must match it exactly,
  // so a CI machine without kubectl checks the same objects.
  (kubectlPresent ? it.each : it.skip.each)(['base', 'overlays/dev', 'overlays/prod'])('renders k8s/%s exactly like kubectl kustomize', (dir) => {
    const expected = kubectlKustomize(k8sDir(dir))!;
    const actual = renderKustomization(k8sDir(dir));
    expect(Object.keys(byId(actual)).sort()).toEqual(Object.keys(byId(expected)).sort());
    expect(byId(actual)).toEqual(byId(expected));
  });

  it('refuses kustomize features it does not implement instead of ignoring them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pm-kustomize-'));
    try {
      writeFileSync(join(dir, 'kustomization.yaml'), 'resources: []\nconfigMapGenerator:\n  - name: x\n    literals: [A=1]\n');
      expect(() => renderKustomization(dir)).toThrow(UnsupportedKustomization);
      writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [cm.yaml]\npatches:\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n      metadata: {name: x}\n');
      writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
      expect(() => renderKustomization(dir)).toThrow(/JSON 6902/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies JSON 6902 operations like RFC 6902, with ~1 escapes and array indexes', () => {
    const doc = { metadata: { annotations: { a: '1' } }, list: [1, 2, 3] };
    const out = applyJson6902(doc, [
      { op: 'add', path: '/metadata/annotations/cert-manager.io~1issuer', value: 'x' },
      { op: 'replace', path: '/list/0', value: 9 },
      { op: 'add', path: '/list/-', value: 4 },
      { op: 'remove', path: '/list/1' },
      { op: 'test', path: '/metadata/annotations/a', value: '1' },
    ]);
    expect(out).toEqual({ metadata: { annotations: { a: '1', 'cert-manager.io/issuer': 'x' } }, list: [9, 3, 4] });
    expect(doc.list).toEqual([1, 2, 3]);
    expect(() => applyJson6902(doc, [{ op: 'replace', path: '/nope', value: 1 }])).toThrow(/does not exist/);
    expect(() => applyJson6902(doc, [{ op: 'test', path: '/list/0', value: 5 }])).toThrow(/failed/);
  });
});
