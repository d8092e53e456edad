// audit-cluster: which images the cluster's workloads use, whether this registry can serve each one, and
// which pods are stuck pulling. Reads the API through @kubernetes/client-node in ./kube-client.ts, loaded
// only here. The kubeconfig and its credentials never appear in errors or logs.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { findServed, hostSet, indexServed, otherTags, sameHost, tryParse, type Served } from './served.js';

/** The fields of a pod spec the audit reads (client-node models and raw API JSON both fit). */
interface ContainerLike {
  name?: string;
  image?: string;
}
interface PodSpecLike {
  containers?: ContainerLike[];
  initContainers?: ContainerLike[];
  ephemeralContainers?: ContainerLike[];
}
interface ContainerStatusLike {
  name?: string;
  image?: string;
  state?: { waiting?: { reason?: string; message?: string } };
}
interface Meta {
  metadata?: { name?: string; namespace?: string };
}
export interface PodLike extends Meta {
  spec?: PodSpecLike;
  status?: { containerStatuses?: ContainerStatusLike[]; initContainerStatuses?: ContainerStatusLike[]; ephemeralContainerStatuses?: ContainerStatusLike[] };
}
export interface TemplatedLike extends Meta {
  spec?: { template?: { spec?: PodSpecLike } };
}
export interface CronJobLike extends Meta {
  spec?: { jobTemplate?: { spec?: { template?: { spec?: PodSpecLike } } } };
}

export interface Workloads {
  pods: PodLike[];
  deployments: TemplatedLike[];
  daemonsets: TemplatedLike[];
  statefulsets: TemplatedLike[];
  jobs: TemplatedLike[];
  cronjobs: CronJobLike[];
}

export interface AuditedImage {
  image: string;
  /** kind/namespace/name, sorted */
  usedBy: string[];
  servable: boolean;
  reason?: string;
}
export interface PullingContainer {
  pod: string;
  namespace: string;
  container: string;
  image: string;
  reason: string;
  message: string;
}
export interface AuditResult {
  images: AuditedImage[];
  pulling: PullingContainer[];
}

export interface AuditOptions {
  /** Kubeconfig YAML text. */
  kubeconfig: string;
  served: Served;
  mirroredHosts: readonly string[];
  /** host:port clients use for this registry; images named with it are served directly. */
  registryNetloc: string;
  /** Bound for the whole audit (default 10 s). */
  timeoutMs?: number;
  log?: (line: string) => Promise<void>;
}

const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff']);

function podSpecImages(spec: PodSpecLike | undefined): string[] {
  if (!spec) return [];
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])]
    .map((c) => c.image)
    .filter((i): i is string => typeof i === 'string' && i.length > 0);
}

function owner(kind: string, o: Meta): string {
  return `${kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** image -> users, from pod specs and the pod templates of controllers. */
export function collectImages(w: Workloads): Map<string, Set<string>> {
  const uses = new Map<string, Set<string>>();
  const add = (images: string[], who: string) => {
    for (const image of images) {
      const set = uses.get(image) ?? new Set<string>();
      set.add(who);
      uses.set(image, set);
    }
  };
  for (const p of w.pods) add(podSpecImages(p.spec), owner('Pod', p));
  for (const d of w.deployments) add(podSpecImages(d.spec?.template?.spec), owner('Deployment', d));
  for (const d of w.daemonsets) add(podSpecImages(d.spec?.template?.spec), owner('DaemonSet', d));
  for (const s of w.statefulsets) add(podSpecImages(s.spec?.template?.spec), owner('StatefulSet', s));
  for (const j of w.jobs) add(podSpecImages(j.spec?.template?.spec), owner('Job', j));
  for (const c of w.cronjobs) add(podSpecImages(c.spec?.jobTemplate?.spec?.template?.spec), owner('CronJob', c));
  return uses;
}

export function pullingContainers(pods: PodLike[]): PullingContainer[] {
  const out: PullingContainer[] = [];
  for (const p of pods) {
    const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? []), ...(p.status?.ephemeralContainerStatuses ?? [])];
    for (const s of statuses) {
      const waiting = s.state?.waiting;
      if (!waiting?.reason || !PULL_FAILURES.has(waiting.reason)) continue;
      out.push({
        pod: p.metadata?.name ?? '',
        namespace: p.metadata?.namespace ?? '',
        container: s.name ?? '',
        image: s.image ?? '',
        reason: waiting.reason,
        message: waiting.message ?? '',
      });
    }
  }
  return out;
}

/** The pure part of the audit: servability of every image in use, and pods stuck pulling. */
export function auditWorkloads(w: Workloads, served: Served, mirroredHosts: readonly string[], registryNetloc: string): AuditResult {
  const index = indexServed(served);
  const mirrors = hostSet(mirroredHosts);
  const images: AuditedImage[] = [];
  for (const [image, users] of collectImages(w)) {
    const usedBy = [...users].sort();
    const { ref, error } = tryParse(image);
    if (!ref) {
      images.push({ image, usedBy, servable: false, reason: error });
      continue;
    }
    const own = sameHost(ref.host, registryNetloc);
    if (!own && !mirrors.has(ref.host)) {
      images.push({ image, usedBy, servable: false, reason: `host ${ref.host} is not mirrored by this registry; pulls go to ${ref.host}` });
      continue;
    }
    if (findServed(index, ref).found) {
      images.push({ image, usedBy, servable: true });
      continue;
    }
    const path = ref.digest ? `${ref.repository}@${ref.digest}` : `${ref.repository}:${ref.tag}`;
    const others = ref.digest ? [] : otherTags(index, ref);
    const hint = others.length ? ` (served tags of ${ref.repository}: ${others.join(', ')})` : '';
    images.push({ image, usedBy, servable: false, reason: `${path} is not in the registry${hint}; load it` });
  }
  images.sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
  return { images, pulling: pullingContainers(w.pods) };
}

type KubeClient = typeof import('./kube-client.js');

/**
 * The client-node half of the audit. From the hook bundle (dist/bundle.cjs) it is the sibling bundle
 * dist/kube.cjs, required (CommonJS: the hook bundle runs from a V8 code cache, where import() has no
 * loader), so hooks never parse client-node; from TypeScript (tests, ts-node) it is ./kube-client.ts.
 * The specifier is a variable so esbuild leaves the import alone instead of inlining client-node.
 */
export async function loadKubeClient(): Promise<KubeClient> {
  if (import.meta.url.endsWith('/dist/bundle.cjs')) {
    const file = fileURLToPath(new URL('./kube.cjs', import.meta.url));
    if (!fs.existsSync(file)) throw new Error(`the Kubernetes client bundle ${file} is missing from the charm: rebuild and repack it (npm run pack)`);
    return createRequire(import.meta.url)(file) as KubeClient;
  }
  const specifier = './kube-client.js';
  return (await import(specifier)) as KubeClient;
}

/** Lists every workload kind in all namespaces through @kubernetes/client-node; bounded by timeoutMs as a whole. */
export async function fetchWorkloads(kubeconfig: string, timeoutMs = 10_000): Promise<{ server: string; workloads: Workloads }> {
  const client = await loadKubeClient();
  return client.fetchWorkloads(kubeconfig, timeoutMs);
}

export async function auditCluster(opts: AuditOptions): Promise<AuditResult> {
  const { server, workloads } = await fetchWorkloads(opts.kubeconfig, opts.timeoutMs);
  await opts.log?.(
    `audit: ${workloads.pods.length} pods, ${workloads.deployments.length} deployments, ${workloads.daemonsets.length} daemonsets, ` +
      `${workloads.statefulsets.length} statefulsets, ${workloads.jobs.length} jobs, ${workloads.cronjobs.length} cronjobs from ${server}`,
  );
  return auditWorkloads(workloads, opts.served, opts.mirroredHosts, opts.registryNetloc);
}
