import { parseEnv } from '@pushmail/config';
import { BULL_PREFIX, QueueName } from '@pushmail/contracts';
import { readFileSync } from 'node:fs';
import {
  SAMPLE_SECRET_VALUES,
  appHasEntry,
  appSchemas,
  checkAppEnv,
  deployedApps,
  entrypointApps,
} from './support/app-contract';
import { findUnknownFields, validateSchemas } from './support/k8s-validate';
import { K8sObject, k8sDir, readManifests, renderOverlay } from './support/kustomize';

type Obj = Record<string, unknown>;
interface Container {
  name: string;
  image: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: Obj }>;
  envFrom?: Array<{ configMapRef?: { name: string; optional?: boolean }; secretRef?: { name: string; optional?: boolean } }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Obj;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: Obj;
}
interface Workload extends K8sObject {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; strategy?: { type: string }; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } };
}

const overlays = ['dev', 'prod'] as const;

/**
 * Memory sizing (docs/operations.md): RSS measured with the built apps on this machine (watcher:
 * 110 MiB idle, +53 KB per IDLE account up to 600; gateway: 126 MiB idle, +30 KB per client up to
 * 1,000), budgeted at the project's targets where those are higher.
 */
const MEMORY = { watcherBaseMiB: 110, perAccountKB: 60, gatewayBaseMiB: 126, perClientKB: 30, clientsPerGateway: 4000 };
const mebibytes = (q: string) => {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi)?$/.exec(q);
  if (!m) throw new Error(`unexpected quantity ${q}`);
  return Number(m[1]) * (m[2] ? { Ki: 1 / 1024, Mi: 1, Gi: 1024 }[m[2]]! : 1 / 1024 / 1024);
};
const find = <T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name) as T | undefined;
const get = <T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, name: string): T => {
  const o = find<T>(objects, kind, name);
  if (!o) throw new Error(`${kind}/${name} is missing`);
  return o;
};
const selects = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Secrets the manifests reference, with values: the dev overlay ships one, prod documents its keys. */
function secretValues(overlay: string, objects: K8sObject[]): Map<string, Record<string, string>> {
  const secrets = new Map<string, Record<string, string>>();
  const fromObject = (o: K8sObject) => {
    const data = Object.fromEntries(Object.entries((o.data as Record<string, string>) ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    secrets.set(o.metadata.name, { ...data, ...((o.stringData as Record<string, string>) ?? {}) });
  };
  objects.filter((o) => o.kind === 'Secret').forEach(fromObject);
  if (overlay === 'prod') {
    // The real Secret is created outside git; its documented keys get valid sample values.
    for (const o of readManifests(k8sDir('overlays/prod/secret.example.yaml'))) {
      const keys = Object.keys((o.stringData as Record<string, string>) ?? {});
      secrets.set(o.metadata.name, Object.fromEntries(keys.map((k) => [k, SAMPLE_SECRET_VALUES[k] ?? 'sample'])));
    }
  }
  return secrets;
}

/** A container's environment as the kubelet would build it; unresolvable references are reported. */
function containerEnv(c: Container, objects: K8sObject[], secrets: Map<string, Record<string, string>>, problems: string[], where: string) {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) {
      const cm = find(objects, 'ConfigMap', from.configMapRef.name);
      if (!cm && !from.configMapRef.optional) problems.push(`${where}: ConfigMap ${from.configMapRef.name} is not in the overlay`);
      Object.assign(env, (cm?.data as Record<string, string>) ?? {});
    }
    if (from.secretRef) {
      const s = secrets.get(from.secretRef.name);
      if (!s && !from.secretRef.optional) problems.push(`${where}: Secret ${from.secretRef.name} is unknown`);
      Object.assign(env, s ?? {});
    }
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    const ref = e.valueFrom as { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: unknown } | undefined;
    if (ref?.fieldRef) env[e.name] = 'pod-name-0';
    if (ref?.secretKeyRef) {
      const value = secrets.get(ref.secretKeyRef.name)?.[ref.secretKeyRef.key];
      if (value === undefined && !ref.secretKeyRef.optional) problems.push(`${where}: ${e.name} needs key ${ref.secretKeyRef.key} of Secret ${ref.secretKeyRef.name}, which is not there`);
      if (value !== undefined) env[e.name] = value;
    }
    if (ref?.configMapKeyRef) {
      const value = (find(objects, 'ConfigMap', ref.configMapKeyRef.name)?.data as Record<string, string> | undefined)?.[ref.configMapKeyRef.key];
      if (value === undefined && !ref.configMapKeyRef.optional) problems.push(`${where}: ${e.name} needs ConfigMap key ${ref.configMapKeyRef.key}`);
      if (value !== undefined) env[e.name] = value;
    }
  }
  // The kubelet passes empty values; the apps treat them as unset (parseEnv drops them).
  return env;
}

const appContainer = (w: Workload, app: string) => {
  const c = w.spec.template.spec.containers.find((x) => x.name === app);
  if (!c) throw new Error(`Deployment ${app} has no container named ${app}`);
  return c;
};

describe.each(overlays)('k8s/overlays/%s', (overlay) => {
  let objects: K8sObject[];
  let secrets: Map<string, Record<string, string>>;
  beforeAll(() => {
    objects = renderOverlay(k8sDir('overlays', overlay)).objects;
    secrets = secretValues(overlay, objects);
  });

  it('renders (kubectl kustomize, or the fallback renderer without kubectl) into namespaced objects', () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace).toBe(overlay === 'prod' ? 'pushmail' : 'pushmail-dev');
  });

  it('every object passes the Kubernetes schema (required fields, types, formats)', () => {
    expect(validateSchemas(objects)).toEqual([]);
  });

  it('no object has a field the Kubernetes API does not define', () => {
    expect(findUnknownFields(objects)).toEqual([]);
  });

  it.each(deployedApps)('%s: runs the image with its app argument, which the entrypoint and the build know', (app) => {
    const w = get<Workload>(objects, 'Deployment', app);
    const c = appContainer(w, app);
    expect(c.args?.[0]).toBe(app);
    expect(entrypointApps()).toContain(app);
    expect(appHasEntry(app)).toBe(true);
    const images = deployedApps.map((a) => appContainer(get<Workload>(objects, 'Deployment', a), a).image);
    expect(new Set(images).size).toBe(1);
    expect(c.image).toMatch(overlay === 'prod' ? /^[\w.-]+(\/[\w.-]+)+:\d+\.\d+\.\d+$/ : /^pushmail:dev$/);
  });

  it.each(deployedApps)('%s: the environment is exactly what the app reads, and it parses', (app) => {
    const w = get<Workload>(objects, 'Deployment', app);
    const problems: string[] = [];
    const env = containerEnv(appContainer(w, app), objects, secrets, problems, `${overlay}/${app}`);
    problems.push(...checkAppEnv(app, env, `${overlay}/${app}`));
    expect(problems).toEqual([]);
  });

  it.each(deployedApps)('%s: port, probes, metrics annotations and Service agree with the app', (app) => {
    const w = get<Workload>(objects, 'Deployment', app);
    const c = appContainer(w, app);
    const env = containerEnv(c, objects, secrets, [], app);
    const port = parseEnv(appSchemas[app], env).PORT;
    const http = c.ports?.find((p) => p.name === 'http');
    expect(http?.containerPort).toBe(port);
    const resolve = (p: string | number | undefined) => (typeof p === 'number' ? p : c.ports?.find((x) => x.name === p)?.containerPort);
    expect(c.livenessProbe?.httpGet).toEqual(expect.objectContaining({ path: '/health/live' }));
    expect(c.startupProbe?.httpGet).toEqual(expect.objectContaining({ path: '/health/live' }));
    expect(c.readinessProbe?.httpGet).toEqual(expect.objectContaining({ path: '/health/ready' }));
    for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(resolve(probe?.httpGet?.port)).toBe(port);
    expect(w.spec.template.metadata.annotations?.['prometheus.io/port']).toBe(String(port));
    expect(w.spec.template.metadata.annotations?.['prometheus.io/path']).toBe('/metrics');
    expect(selects(w.spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(true);
  });

  it.each(deployedApps)('%s: the grace period covers the app\'s own shutdown deadline', (app) => {
    const w = get<Workload>(objects, 'Deployment', app);
    const c = appContainer(w, app);
    const env = containerEnv(c, objects, secrets, [], app);
    const shutdownMs = parseEnv(appSchemas[app], env).SHUTDOWN_TIMEOUT_MS;
    const preStop = c.lifecycle?.preStop?.exec?.command;
    const preStopMs = preStop?.[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
    // runMain exits at SHUTDOWN_TIMEOUT_MS + 5 s at the latest; Kubernetes must not SIGKILL before.
    expect((w.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThanOrEqual(preStopMs + shutdownMs + 5000);
  });

  it.each(deployedApps)('%s: non-root, no privilege escalation, requests and a memory limit', (app) => {
    const w = get<Workload>(objects, 'Deployment', app);
    const c = appContainer(w, app);
    expect(w.spec.template.spec.securityContext).toEqual(expect.objectContaining({ runAsNonRoot: true }));
    expect(c.securityContext).toEqual(expect.objectContaining({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true }));
    expect(c.resources?.requests).toEqual(expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }));
    expect(c.resources?.limits?.memory).toEqual(expect.any(String));
  });

  it('memory requests cover the measured per-account and per-client budgets', () => {
    const watcher = appContainer(get<Workload>(objects, 'Deployment', 'watcher'), 'watcher');
    const watcherEnv = parseEnv(appSchemas.watcher, containerEnv(watcher, objects, secrets, [], 'watcher')) as { WATCHER_MAX_ACCOUNTS?: number };
    const maxAccounts = watcherEnv.WATCHER_MAX_ACCOUNTS ?? 5000;
    expect(mebibytes(watcher.resources!.requests!.memory)).toBeGreaterThanOrEqual(MEMORY.watcherBaseMiB + (maxAccounts * MEMORY.perAccountKB) / 1024);
    const gateway = appContainer(get<Workload>(objects, 'Deployment', 'gateway'), 'gateway');
    expect(mebibytes(gateway.resources!.requests!.memory)).toBeGreaterThanOrEqual(MEMORY.gatewayBaseMiB + (MEMORY.clientsPerGateway * MEMORY.perClientKB) / 1024);
    for (const app of deployedApps) {
      const c = appContainer(get<Workload>(objects, 'Deployment', app), app);
      expect(mebibytes(c.resources!.limits!.memory)).toBeGreaterThan(mebibytes(c.resources!.requests!.memory));
    }
  });

  it('watcher: rolling updates, enough replicas, a disruption budget', () => {
    const w = get<Workload>(objects, 'Deployment', 'watcher');
    expect(w.spec.strategy?.type).toBe('RollingUpdate');
    expect(w.spec.replicas).toBe(overlay === 'prod' ? 3 : 2);
    const pdb = objects.find((o) => o.kind === 'PodDisruptionBudget' && selects((o.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels, w.spec.template.metadata.labels));
    expect(pdb?.spec).toEqual(expect.objectContaining({ maxUnavailable: 1 }));
  });

  it.each(['fetcher', 'gateway'])('%s: an HPA on CPU owns the replica count', (app) => {
    const w = get<Workload>(objects, 'Deployment', app);
    expect(w.spec.replicas).toBeUndefined();
    const hpa = get(objects, 'HorizontalPodAutoscaler', app).spec as { scaleTargetRef: Obj; minReplicas: number; maxReplicas: number; metrics: Array<{ resource?: { name: string } }> };
    expect(hpa.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: app });
    expect(hpa.metrics.map((m) => m.resource?.name)).toContain('cpu');
    expect(hpa.maxReplicas).toBeGreaterThan(hpa.minReplicas);
  });

  it('gateway: Service and Ingress reach the http port, with websocket timeouts', () => {
    const w = get<Workload>(objects, 'Deployment', 'gateway');
    const svc = get(objects, 'Service', 'gateway').spec as { selector: Record<string, string>; ports: Array<{ name: string; port: number; targetPort: string | number }> };
    expect(selects(svc.selector, w.spec.template.metadata.labels)).toBe(true);
    const svcPort = svc.ports.find((p) => p.name === 'http');
    expect(svcPort?.targetPort).toBe('http');
    const ingress = get(objects, 'Ingress', 'gateway');
    const backend = (ingress.spec as { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name?: string; number?: number } } } }> } }> }).rules[0].http.paths[0].backend.service;
    expect(backend.name).toBe('gateway');
    expect(backend.port.name === 'http' || backend.port.number === svcPort?.port).toBe(true);
    const annotations = ingress.metadata.annotations ?? {};
    for (const key of ['proxy-read-timeout', 'proxy-send-timeout']) {
      expect(Number(annotations[`nginx.ingress.kubernetes.io/${key}`])).toBeGreaterThanOrEqual(3600);
    }
  });

  it('NetworkPolicies: deny by default; only the gateway accepts traffic from outside; egress to Redis, DNS and mail ports only', () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as Array<K8sObject & { spec: NetPolSpec }>;
    const podLabels = (name: string) => (get<Workload>(objects, name === 'redis' ? 'StatefulSet' : 'Deployment', name)).spec.template.metadata.labels;
    const pods = [...deployedApps, ...(overlay === 'dev' ? ['redis'] : [])];
    for (const pod of pods) {
      const labels = podLabels(pod);
      const applying = policies.filter((p) => matchesSelector(p.spec.podSelector, labels));
      expect(applying.some((p) => p.spec.policyTypes?.includes('Ingress') && !p.spec.ingress)).toBe(true);
      expect(applying.some((p) => p.spec.policyTypes?.includes('Egress') && !p.spec.egress)).toBe(true);
      const ingressFrom = applying.flatMap((p) => (p.spec.ingress ?? []).flatMap((rule) => (rule.from ?? [{}]).map((peer) => ({ peer, ports: rule.ports ?? [] }))));
      for (const { peer, ports } of ingressFrom) {
        const namespace = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
        expect(peer.ipBlock).toBeUndefined();
        if (pod === 'gateway') expect([undefined, 'ingress-nginx', 'monitoring']).toContain(namespace);
        else if (pod === 'redis') expect(namespace).toBeUndefined();
        else expect(namespace).toBe('monitoring');
        expect(ports.length).toBeGreaterThan(0);
      }
      if (pod === 'redis') continue;
      const egressPorts = applying.flatMap((p) => (p.spec.egress ?? []).flatMap((rule) => (rule.ports ?? [{ port: 'any' }]).map((x) => x.port)));
      const allowed = new Set<unknown>([6379, 6380, 26379, 53, 143, 993, 25, 465, 587]);
      expect(egressPorts.filter((p) => !allowed.has(p))).toEqual([]);
      expect(egressPorts).toEqual(expect.arrayContaining([53, 143, 993]));
      expect(egressPorts.some((p) => p === 6379 || p === 6380)).toBe(true);
      if (pod === 'gateway') expect(egressPorts).toEqual(expect.arrayContaining([587, 465]));
      else expect(egressPorts).not.toContain(587);
    }
  });

  it('secrets: nothing real in git; every key the apps reference exists and every key is used', () => {
    const referenced = new Set(
      deployedApps.flatMap((app) =>
        (appContainer(get<Workload>(objects, 'Deployment', app), app).env ?? []).flatMap((e) => {
          const ref = (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)?.secretKeyRef;
          return ref ? [`${ref.name}/${ref.key}`] : [];
        }),
      ),
    );
    const documented = new Set([...secrets].flatMap(([name, data]) => Object.keys(data).map((k) => `${name}/${k}`)));
    expect([...referenced].sort()).toEqual([...documented].sort());
    for (const key of ['PUSHMAIL_SECRET_KEY', 'AUTH_JWT_SECRET', 'ADMIN_TOKEN']) expect(documented).toContain(`pushmail-secrets/${key}`);
    if (overlay === 'prod') expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  if (overlay === 'dev') {
    it('dev Redis: AOF on, noeviction, reachable at the REDIS_URL the apps get', () => {
      const redis = get<Workload>(objects, 'StatefulSet', 'redis');
      const args = redis.spec.template.spec.containers[0].args ?? [];
      const flag = (name: string) => args[args.indexOf(name) + 1];
      expect(flag('--appendonly')).toBe('yes');
      expect(flag('--maxmemory-policy')).toBe('noeviction');
      const url = new URL(secrets.get('pushmail-secrets')!.REDIS_URL);
      const svc = get(objects, 'Service', url.hostname).spec as { ports: Array<{ port: number }>; selector: Record<string, string> };
      expect(svc.ports.map((p) => p.port)).toContain(Number(url.port || 6379));
      expect(selects(svc.selector, redis.spec.template.metadata.labels)).toBe(true);
    });
  }
});

interface NetPolPeer {
  namespaceSelector?: { matchLabels?: Record<string, string> };
  podSelector?: Selector;
  ipBlock?: { cidr: string };
}
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}
interface NetPolSpec {
  podSelector: Selector;
  policyTypes?: string[];
  ingress?: Array<{ from?: NetPolPeer[]; ports?: Array<{ port?: string | number }> }>;
  egress?: Array<{ to?: NetPolPeer[]; ports?: Array<{ port?: string | number }> }>;
}

function matchesSelector(selector: Selector, labels: Record<string, string>): boolean {
  const byLabels = selects(selector.matchLabels ?? {}, labels);
  const byExpressions = (selector.matchExpressions ?? []).every((e) => {
    if (e.operator === 'In') return e.values?.includes(labels[e.key]) ?? false;
    if (e.operator === 'NotIn') return !(e.values?.includes(labels[e.key]) ?? false);
    if (e.operator === 'Exists') return e.key in labels;
    return !(e.key in labels);
  });
  return byLabels && byExpressions;
}

describe('k8s/optional (documented extras, not rendered by default)', () => {
  it('the KEDA ScaledObject scales the fetcher Deployment on the BullMQ wait list of its queue', () => {
    const docs = readManifests(k8sDir('optional/keda-fetcher.yaml'));
    const scaled = docs.find((o) => o.kind === 'ScaledObject')!;
    const spec = scaled.spec as { scaleTargetRef: { name: string }; triggers: Array<{ type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }> };
    expect(find(renderOverlay(k8sDir('overlays/prod')).objects, 'Deployment', spec.scaleTargetRef.name)).toBeDefined();
    const redis = spec.triggers.find((t) => t.type === 'redis')!;
    expect(redis.metadata.listName).toBe(`${BULL_PREFIX}:${QueueName.MailboxEvents}:wait`);
    expect(docs.find((o) => o.kind === 'TriggerAuthentication')?.metadata.name).toBe(redis.authenticationRef?.name);
  });

  it('the re-encryption Job runs the CLI from the deployed image with exactly the variables it reads', () => {
    const [job] = readManifests(k8sDir('optional/reencrypt-credentials-job.yaml')) as Array<K8sObject & { spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } }>;
    expect(validateSchemas([job])).toEqual([]);
    expect(findUnknownFields([job])).toEqual([]);
    const c = job.spec.template.spec.containers[0];
    expect(c.args).toEqual(['cli', 'reencrypt-credentials']);
    expect(entrypointApps()).toContain('cli');
    const prod = renderOverlay(k8sDir('overlays/prod')).objects;
    expect(c.image).toBe(appContainer(get<Workload>(prod, 'Deployment', 'gateway'), 'gateway').image);
    const problems: string[] = [];
    const env = containerEnv(c, prod, secretValues('prod', prod), problems, 'reencrypt job');
    expect([...problems, ...checkAppEnv('cli', env, 'reencrypt job')]).toEqual([]);
    // Its pods may reach Redis under the same NetworkPolicies as the apps.
    const egress = prod.filter((o) => o.kind === 'NetworkPolicy' && matchesSelector((o.spec as NetPolSpec).podSelector, job.spec.template.metadata.labels) && (o.spec as NetPolSpec).egress);
    expect(egress.map((o) => o.metadata.name).sort()).toEqual(['apps-egress-managed-redis', 'apps-egress-redis-dns']);
  });

  it('optional files are in no kustomization', () => {
    for (const dir of ['base', 'overlays/dev', 'overlays/prod']) {
      expect(readFileSync(k8sDir(dir, 'kustomization.yaml'), 'utf8')).not.toMatch(/optional|keda|podmonitor/i);
    }
  });
});
