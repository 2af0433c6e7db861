import { existsSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { K8sObject, objectId, repoRoot } from './kustomize';

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** `kubernetes-models/<group>/<version>/<Kind>` for an object, e.g. apps/v1/Deployment. */
function modelModule(o: Pick<K8sObject, 'apiVersion' | 'kind'>): string {
  return `kubernetes-models/${o.apiVersion}/${o.kind}`;
}

export function hasModel(o: Pick<K8sObject, 'apiVersion' | 'kind'>): boolean {
  return existsSync(join(repoRoot, 'node_modules', `${modelModule(o)}.js`));
}

/**
 * The API server's schema checks, offline: required fields, types and formats from the
 * OpenAPI-generated validators in kubernetes-models. Returns one message per invalid object.
 */
export function validateSchemas(objects: K8sObject[]): string[] {
  const errors: string[] = [];
  for (const o of objects) {
    if (typeof o?.apiVersion !== 'string' || typeof o?.kind !== 'string') {
      errors.push(`object without apiVersion/kind: ${JSON.stringify(o).slice(0, 120)}`);
      continue;
    }
    if (!hasModel(o)) {
      errors.push(`${objectId(o)}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`);
      continue;
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Model = (require(modelModule(o)) as Record<string, ModelClass>)[o.kind];
    try {
      new Model(o).validate();
    } catch (err) {
      errors.push(`${objectId(o)}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/**
 * Unknown fields, which the generated validators let through but `kubectl apply --validate=strict`
 * (the default since 1.27) rejects: a misspelt key is otherwise silently ignored by the API server.
 * Each object is type-checked as an object literal against kubernetes-models' TypeScript interface,
 * so excess-property checks flag any key the Kubernetes API does not define.
 */
export function findUnknownFields(objects: K8sObject[]): string[] {
  const modelled = objects.filter(hasModel);
  const imports = [...new Set(modelled.map((o) => `import type { I${o.kind} } from '${modelModule(o)}';`))];
  const lines = [...imports];
  const lineToObject = new Map<number, K8sObject>();
  modelled.forEach((o, i) => {
    lineToObject.set(lines.length, o);
    lines.push(`export const o${i}: I${o.kind} = ${JSON.stringify(o)};`);
  });
  const file = join(repoRoot, 'test/deploy/__rendered_manifests__.ts');
  const text = lines.join('\n');
  const host = ts.createCompilerHost({});
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === file ? ts.createSourceFile(name, text, languageVersion) : getSourceFile(name, languageVersion, ...rest);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram(
    [file],
    { strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'], module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 },
    host,
  );
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file?.fileName !== file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const o = lineToObject.get(line);
    return o ? `${objectId(o)}: ${message}` : message;
  });
}

/** Both checks; an empty list means every object would pass the API server's validation. */
export function validateStrict(objects: K8sObject[]): string[] {
  return [...validateSchemas(objects), ...findUnknownFields(objects)];
}
