import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** A rendered Kubernetes object, as plain JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }>;
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
  replicas?: Array<{ name: string; count: number }>;
  patches?: Array<{ target?: { kind?: string; name?: string }; patch?: string; path?: string }>;
}

const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'labels', 'images', 'replicas', 'patches']);
const CLUSTER_SCOPED = new Set([
  'Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PersistentVolume', 'StorageClass',
  'PriorityClass', 'IngressClass', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'APIService',
]);
const REPLICATED_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet', 'ReplicationController']);

export class UnsupportedKustomization extends Error {}

/**
 * The subset of `kustomize build` that pushmail's k8s/ uses (resources, namespace, labels, images,
 * replicas and JSON 6902 patches), for machines without kubectl. Anything else is refused rather
 * than half-applied; the deploy tests compare its output with `kubectl kustomize` wherever kubectl
 * is installed, so the two cannot drift apart unnoticed.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const file = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) throw new Error(`${dir}: no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  const unknown = Object.keys(k).filter((key) => !SUPPORTED_FIELDS.has(key));
  if (unknown.length) throw new UnsupportedKustomization(`${file}: the fallback renderer does not support ${unknown.join(', ')}`);

  let objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(dir, entry);
    if (!existsSync(path)) throw new Error(`${file}: resource ${entry} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? renderKustomization(path) : readManifests(path)));
  }
  assertUniqueIds(objects, file);

  // kustomize's transformer order: patches, namespace, labels, replicas, images.
  for (const p of k.patches ?? []) objects = applyPatch(objects, p, dir, file);
  if (k.namespace) {
    for (const o of objects) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  for (const l of k.labels ?? []) {
    if (l.includeSelectors || l.includeTemplates) throw new UnsupportedKustomization(`${file}: labels with includeSelectors/includeTemplates`);
    for (const o of objects) o.metadata.labels = { ...(o.metadata.labels ?? {}), ...l.pairs };
  }
  for (const r of k.replicas ?? []) {
    const targets = objects.filter((o) => REPLICATED_KINDS.has(o.kind) && o.metadata.name === r.name);
    for (const o of targets) (o.spec as JsonObject).replicas = r.count;
  }
  for (const image of k.images ?? []) for (const o of objects) retagImages(o as unknown as Json, image);
  return objects;
}

export function readManifests(path: string): K8sObject[] {
  return parseManifests(readFileSync(path, 'utf8'), path);
}

export function parseManifests(text: string, source = 'input'): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length) throw new Error(`${source}: ${doc.errors[0].message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && o !== undefined);
}

export const objectId = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? '~'}/${o.metadata.name}`;

function assertUniqueIds(objects: K8sObject[], file: string): void {
  const seen = new Set<string>();
  for (const o of objects) {
    const id = objectId(o);
    if (seen.has(id)) throw new Error(`${file}: duplicate resource ${id}`);
    seen.add(id);
  }
}

function applyPatch(objects: K8sObject[], p: NonNullable<Kustomization['patches']>[number], dir: string, file: string): K8sObject[] {
  const text = p.patch ?? (p.path ? readFileSync(resolve(dir, p.path), 'utf8') : undefined);
  if (text === undefined) throw new Error(`${file}: a patch needs patch or path`);
  const ops = parse(text) as unknown;
  if (!Array.isArray(ops)) throw new UnsupportedKustomization(`${file}: only JSON 6902 patches (a list of operations) are supported`);
  const targets = objects.filter((o) => (!p.target?.kind || o.kind === p.target.kind) && (!p.target?.name || o.metadata.name === p.target.name));
  if (targets.length === 0) throw new Error(`${file}: patch target ${JSON.stringify(p.target)} matches nothing`);
  return objects.map((o) => (targets.includes(o) ? (applyJson6902(o as unknown as Json, ops as PatchOp[]) as unknown as K8sObject) : o));
}

export interface PatchOp {
  op: 'add' | 'replace' | 'remove' | 'test';
  path: string;
  value?: Json;
}

/** RFC 6902 add/replace/remove/test on a copy of `doc`. */
export function applyJson6902(doc: Json, ops: PatchOp[]): Json {
  const root = structuredClone(doc);
  for (const { op, path, value } of ops) {
    if (!['add', 'replace', 'remove', 'test'].includes(op)) throw new UnsupportedKustomization(`patch op ${op}`);
    const tokens = path.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop();
    if (last === undefined) throw new Error(`patch path "${path}" must not be the root`);
    let parent: Json = root;
    for (const t of tokens) {
      const next: Json | undefined = Array.isArray(parent) ? parent[Number(t)] : isObject(parent) ? parent[t] : undefined;
      if (next === undefined || next === null || typeof next !== 'object') throw new Error(`patch path "${path}": "${t}" does not exist`);
      parent = next;
    }
    if (Array.isArray(parent)) {
      const index = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(index) || index < 0 || index > parent.length) throw new Error(`patch path "${path}": bad index`);
      if (op === 'add') parent.splice(index, 0, structuredClone(value as Json));
      else if (index >= parent.length) throw new Error(`patch path "${path}" does not exist`);
      else if (op === 'replace') parent[index] = structuredClone(value as Json);
      else if (op === 'remove') parent.splice(index, 1);
      else if (JSON.stringify(parent[index]) !== JSON.stringify(value)) throw new Error(`patch test at "${path}" failed`);
    } else if (isObject(parent)) {
      if (op === 'add') parent[last] = structuredClone(value as Json);
      else if (!(last in parent)) throw new Error(`patch path "${path}" does not exist`);
      else if (op === 'replace') parent[last] = structuredClone(value as Json);
      else if (op === 'remove') delete parent[last];
      else if (JSON.stringify(parent[last]) !== JSON.stringify(value)) throw new Error(`patch test at "${path}" failed`);
    } else {
      throw new Error(`patch path "${path}": parent is not a container`);
    }
  }
  return root;
}

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** kustomize's images transformer: every container image whose name matches gets the new name/tag. */
function retagImages(node: Json, image: NonNullable<Kustomization['images']>[number]): void {
  if (Array.isArray(node)) {
    for (const n of node) retagImages(n, image);
    return;
  }
  if (!isObject(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value)) {
      for (const c of value) {
        if (isObject(c) && typeof c.image === 'string') c.image = retag(c.image, image);
      }
    }
    retagImages(value, image);
  }
}

function retag(ref: string, image: NonNullable<Kustomization['images']>[number]): string {
  const at = ref.indexOf('@');
  const withoutDigest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = withoutDigest.lastIndexOf(':');
  const hasTag = colon > withoutDigest.lastIndexOf('/');
  const name = hasTag ? withoutDigest.slice(0, colon) : withoutDigest;
  if (name !== image.name) return ref;
  const tag = hasTag ? withoutDigest.slice(colon + 1) : undefined;
  const newName = image.newName ?? name;
  if (image.digest) return `${newName}@${image.digest}`;
  if (image.newTag) return `${newName}:${image.newTag}`;
  if (at >= 0) return `${newName}${ref.slice(at)}`;
  return tag ? `${newName}:${tag}` : newName;
}

/** `kubectl kustomize` when kubectl is installed, else null. */
export function kubectlKustomize(dir: string): K8sObject[] | null {
  const which = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  if (which.status !== 0) return null;
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${result.stderr}`);
  return parseManifests(result.stdout, `kubectl kustomize ${dir}`);
}

/** Renders an overlay the way an operator would: kubectl when present, the fallback otherwise. */
export function renderOverlay(dir: string): { objects: K8sObject[]; renderer: 'kubectl' | 'fallback' } {
  const viaKubectl = kubectlKustomize(dir);
  return viaKubectl ? { objects: viaKubectl, renderer: 'kubectl' } : { objects: renderKustomization(dir), renderer: 'fallback' };
}

export const repoRoot = resolve(__dirname, '../../..');
export const k8sDir = (...parts: string[]) => join(repoRoot, 'k8s', ...parts);
