// `run --executor k8s`: the loop's stages (plan.ts) as Kubernetes Jobs on one shared volume (a
// PersistentVolumeClaim mounted at /data in every pod): a sharded stage is an Indexed Job
// (completionMode: Indexed, one completion per shard, `--shard auto` reading JOB_COMPLETION_INDEX
// and LIGHTREASONER_SHARD_COUNT), every other command a plain Job. The image's entry point is the
// CLI (the repository's Dockerfile). --dry-run prints the manifests as multi-document YAML;
// otherwise each is applied with `kubectl apply -f -` and waited for, in order.
import { spawnSync } from 'node:child_process';
import { basename } from 'node:path';
import { stringify } from 'yaml';
import { LightReasonerError } from '../../runtime/errors.ts';
import { SHARD_COUNT_VAR } from '../../runtime/shard/shard.ts';
import { type ClusterRun, planStages, SHARD } from './plan.ts';

/** Where the shared volume is mounted in each pod. */
export const DATA_MOUNT = '/data';
/** The embedded default pair inside the image (`npm install -g` of the package, as the Dockerfile does). */
export const IMAGE_MODELS = '/usr/local/lib/node_modules/lightreasoner-wasm/models/default';

export interface K8sOptions {
  image: string;
  pvc: string;
  /** Commands that write the problem files on the volume before the stages (generated problems). */
  prepare: string[][];
  dryRun: boolean;
  /** kubectl wait --timeout per Job. */
  timeout: string;
  log: (line: string) => void;
}

export type Manifest = Record<string, unknown> & { metadata: { name: string; [key: string]: unknown } };

/** A DNS-1123 label from the run folder's name, for the Jobs' names. */
function runLabel(out: string): string {
  const s = basename(out)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 30);
  return `lr-${s || 'run'}`;
}

function job(name: string, run: string, args: string[], o: K8sOptions, shards?: number, command?: string[]): Manifest {
  const indexed = shards !== undefined;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'lightreasoner-wasm', 'lightreasoner/run': run } },
    spec: {
      ...(indexed ? { completionMode: 'Indexed', completions: shards, parallelism: shards } : {}),
      backoffLimit: indexed ? shards * 2 : 2,
      template: {
        metadata: { labels: { 'lightreasoner/run': run } },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'lightreasoner',
              image: o.image,
              ...(command ? { command } : {}),
              args,
              ...(indexed ? { env: [{ name: SHARD_COUNT_VAR, value: String(shards) }] } : {}),
              volumeMounts: [{ name: 'data', mountPath: DATA_MOUNT }],
            },
          ],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: o.pvc } }],
        },
      },
    },
  };
}

/** The Jobs of a run, in the order they must run. */
function k8sManifests(r: ClusterRun, o: K8sOptions): Manifest[] {
  const run = runLabel(r.out);
  // The run folder first (sample refuses an --out in a missing folder), then the problem files.
  const out: Manifest[] = [job(`${run}-data-0`, run, ['-p', `${r.out}/cluster`], o, undefined, ['mkdir'])];
  out.push(...o.prepare.map((args, k) => job(`${run}-data-${k + 1}`, run, args, o)));
  for (const stage of planStages(r)) {
    for (const [k, { args }] of stage.commands.entries()) {
      const name = stage.commands.length > 1 ? `${run}-${stage.name}-${k + 1}-${args[0]}` : `${run}-${stage.name}`;
      out.push(
        job(
          name,
          run,
          args.map((a) => (a === SHARD ? 'auto' : a)),
          o,
          stage.sharded ? r.shards : undefined,
        ),
      );
    }
  }
  return out;
}

function manifestsYaml(manifests: Manifest[]): string {
  return manifests.map((m) => `---\n${stringify(m)}`).join('');
}

function kubectl(args: string[], input?: string): void {
  const p = spawnSync('kubectl', args, { input, encoding: 'utf8', stdio: ['pipe', 'inherit', 'pipe'] });
  if (p.error) {
    const missing = (p.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new LightReasonerError(
      'ENVIRONMENT',
      missing
        ? 'kubectl not found: install it and point it at your cluster, or print the manifests with --dry-run and apply them yourself'
        : `kubectl: ${p.error.message}`,
    );
  }
  if (p.status !== 0) throw new LightReasonerError('ENVIRONMENT', `kubectl ${args.join(' ')} failed (exit ${p.status}): ${p.stderr.trim()}`);
}

/** Print the manifests (dryRun), or apply each Job and wait for it to complete before the next. */
export function runOnK8s(r: ClusterRun, o: K8sOptions): void {
  const manifests = k8sManifests(r, o);
  if (o.dryRun) {
    // Through console.log as every command's result (cli/output.ts), so an in-process caller captures it too.
    const yaml = manifestsYaml(manifests);
    console.log(yaml.endsWith('\n') ? yaml.slice(0, -1) : yaml);
    return;
  }
  for (const m of manifests) {
    kubectl(['apply', '-f', '-'], stringify(m));
    o.log(`${m.metadata.name}: applied, waiting for it to complete`);
    kubectl(['wait', '--for=condition=complete', `--timeout=${o.timeout}`, `job/${m.metadata.name}`]);
  }
  o.log(`report: ${r.out}/report.html on the volume ${o.pvc}`);
}
