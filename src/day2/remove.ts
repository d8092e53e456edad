// remove-images: resolve what the operator named to served tags, then delete their manifests through the
// writer instance. Blobs stay on disk until garbage-collect.
//
// The registry deletes manifests by digest, and deleting a digest drops EVERY tag of that repository that
// points at it. So a plan that names one tag of a digest shared with tags not named is refused, listing
// them, unless `withSharedTags` is set (then they join the plan, marked `implied`). Likewise a manifest
// that is a platform of a served index in the same repository is refused: deleting it would leave the
// index pointing at a missing manifest and garbage-collect would then take that platform's layers.
import { RegistryError, type RegistryClient } from '../images/remote/index.js';
import { registryPath } from '../images/reference.js';
import { hasExplicitHost, indexServed, sameHost, splitPath, tryParse, type Catalog, type Served, type ServedIndex, type ServedImage } from './served.js';

export interface RemovalItem {
  /** What the operator wrote (for implied items, the reference that pulled them in). */
  input: string;
  path: string;
  repository: string;
  tag: string;
  digest: string;
  host?: string;
  /** Not named, but shares the digest of a named tag (withSharedTags). */
  implied?: boolean;
}

export interface RemovalPlan {
  items: RemovalItem[];
  /** One DELETE per repository and digest. */
  deletes: Array<{ repository: string; digest: string; paths: string[] }>;
}

export interface PlanOptions {
  /** Also remove tags that share a digest with a named tag, instead of refusing. */
  withSharedTags?: boolean;
}

export class RemovalRefusedError extends Error {
  constructor(
    readonly unknown: string[],
    readonly conflicts: string[],
  ) {
    const lines = ['nothing was removed:'];
    if (unknown.length) {
      lines.push(`  not served by this registry (run list-images to see what is): ${unknown.join('; ')}`);
    }
    for (const c of conflicts) lines.push(`  ${c}`);
    super(lines.join('\n'));
    this.name = 'RemovalRefusedError';
  }
}

type Resolution = { images: ServedImage[] } | { problem: string };

/** `repo:tag` or `repo@digest` written without a host, as the registry stores it. */
function rawPathCandidate(input: string): string | undefined {
  const s = input.trim();
  if (s.includes('@')) return undefined;
  const colon = s.lastIndexOf(':');
  return colon > s.lastIndexOf('/') ? s : `${s}:latest`;
}

function resolve(input: string, index: ServedIndex): Resolution {
  const parsed = tryParse(input);
  if (!parsed.ref) return { problem: `${input} (${parsed.error})` };
  const ref = parsed.ref;
  const explicitHost = hasExplicitHost(input);

  if (ref.digest && !ref.tag) {
    const tagged = (index.byRepository.get(ref.repository) ?? []).filter((i) => i.digest === ref.digest);
    if (tagged.length) return { images: tagged };
    if (index.digests.get(ref.repository)?.has(ref.digest)) {
      const parents = (index.byRepository.get(ref.repository) ?? []).filter((i) => i.children?.includes(ref.digest!)).map((i) => i.path);
      return { problem: `${input} (a platform manifest of ${parents.join(', ')}: remove that image instead)` };
    }
    return { problem: input };
  }

  // Docker normalisation first (nginx -> library/nginx:latest), then the input as a registry path.
  const candidates = [registryPath({ ...ref, digest: undefined })];
  const raw = explicitHost ? undefined : rawPathCandidate(input);
  if (raw && !candidates.includes(raw)) candidates.push(raw);
  for (const path of candidates) {
    const image = index.byPath.get(path);
    if (!image) continue;
    if (ref.digest && image.digest !== ref.digest) {
      return { problem: `${input} (${path} now points at ${image.digest}, not the digest given)` };
    }
    if (explicitHost && image.host && !sameHost(image.host, ref.host)) {
      return { problem: `${input} (${path} was loaded from ${image.host}, not ${ref.host}; give the registry path ${path} to remove it anyway)` };
    }
    return { images: [image] };
  }
  return { problem: input };
}

/** Resolves references (original `host/path:tag`, Docker short forms, or registry `path:tag`) to a plan; throws RemovalRefusedError. */
export function planRemoval(refs: readonly string[], served: Served, opts: PlanOptions = {}): RemovalPlan {
  const inputs = refs.map((r) => r.trim()).filter(Boolean);
  if (!inputs.length) throw new Error('remove-images: no image references given; name at least one, e.g. cdk/pause:3.9 or rocks.canonical.com:443/cdk/pause:3.9');
  const index = indexServed(served);
  const unknown: string[] = [];
  const conflicts: string[] = [];
  const items = new Map<string, RemovalItem>();
  for (const input of inputs) {
    const r = resolve(input, index);
    if ('problem' in r) {
      unknown.push(r.problem);
      continue;
    }
    for (const image of r.images) {
      if (!items.has(image.path)) items.set(image.path, { input, ...pick(image) });
    }
  }

  const groups = new Map<string, { repository: string; digest: string; paths: string[] }>();
  for (const item of [...items.values()]) {
    const key = `${item.repository}@${item.digest}`;
    if (groups.has(key)) continue;
    const siblings = (index.byRepository.get(item.repository) ?? []).filter((i) => i.digest === item.digest && !items.has(i.path));
    if (siblings.length && !opts.withSharedTags) {
      conflicts.push(
        `${item.path} shares digest ${item.digest} with ${siblings.map((s) => s.path).join(', ')}; the registry deletes by digest, ` +
          `so removing it removes those too: name them as well, or set with-shared-tags`,
      );
    }
    if (opts.withSharedTags) for (const s of siblings) items.set(s.path, { input: item.input, ...pick(s), implied: true });
    const parents = (index.byRepository.get(item.repository) ?? []).filter((i) => i.children?.includes(item.digest) && !items.has(i.path));
    if (parents.length) {
      conflicts.push(`${item.path} is also a platform of ${parents.map((p) => p.path).join(', ')}; removing it would break that multi-arch image: remove the index too`);
    }
    groups.set(key, { repository: item.repository, digest: item.digest, paths: [] });
  }
  if (unknown.length || conflicts.length) throw new RemovalRefusedError(unknown, conflicts);
  const sorted = [...items.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  for (const item of sorted) groups.get(`${item.repository}@${item.digest}`)!.paths.push(item.path);
  return { items: sorted, deletes: [...groups.values()] };
}

function pick(i: ServedImage): Omit<RemovalItem, 'input'> {
  return { path: i.path, repository: i.repository, tag: i.tag, digest: i.digest, ...(i.host ? { host: i.host } : {}) };
}

export interface RemoveOptions<C extends Catalog = Catalog> {
  dryRun?: boolean;
  /** The loader's catalog; returned without the removed entries (same type as given). */
  catalog?: C;
  log?: (line: string) => Promise<void>;
}

export interface RemovalResult<C extends Catalog = Catalog> {
  dryRun: boolean;
  /** Tags removed (or that would be, on a dry run). */
  removed: RemovalItem[];
  /** Paths that were already gone from the registry before the delete. */
  alreadyGone: string[];
  deleted: Array<{ repository: string; digest: string }>;
  catalog: C;
}

/**
 * Deletes the plan's manifests through the writer. Every tag is checked first: one that now points at
 * another digest (reloaded since the plan) stops the whole removal before anything is deleted.
 */
export async function removeImages<C extends Catalog = Catalog>(
  client: Pick<RegistryClient, 'hasManifest' | 'deleteManifest'>,
  plan: RemovalPlan,
  opts: RemoveOptions<C> = {},
): Promise<RemovalResult<C>> {
  const dryRun = opts.dryRun ?? false;
  const alreadyGone: string[] = [];
  const moved: string[] = [];
  for (const item of plan.items) {
    const current = await client.hasManifest(item.repository, item.tag);
    if (current === null) alreadyGone.push(item.path);
    else if (current !== item.digest) moved.push(`${item.path} now points at ${current}, planned ${item.digest}`);
  }
  if (moved.length) throw new Error(`nothing was removed: the registry changed since the listing (${moved.join('; ')}); list the images again and retry`);

  const deleted: Array<{ repository: string; digest: string }> = [];
  for (const d of plan.deletes) {
    const live = d.paths.filter((p) => !alreadyGone.includes(p));
    if (!live.length) continue;
    if (!dryRun) {
      try {
        await client.deleteManifest(d.repository, d.digest);
      } catch (err) {
        if (!(err instanceof RegistryError && err.status === 404)) throw err;
      }
    }
    deleted.push({ repository: d.repository, digest: d.digest });
    await opts.log?.(`${dryRun ? 'would remove' : 'removed'} ${live.join(', ')} (${d.digest})`);
  }
  const catalog = { ...(opts.catalog ?? {}) } as C;
  const gone = new Set(deleted.map((d) => `${d.repository}@${d.digest}`));
  if (!dryRun) {
    for (const [path, entry] of Object.entries(catalog)) {
      const { repository } = splitPath(path);
      if (gone.has(`${repository}@${entry.digest}`) || plan.items.some((i) => i.path === path)) delete catalog[path];
    }
  }
  return { dryRun, removed: plan.items.filter((i) => !alreadyGone.includes(i.path)), alreadyGone, deleted, catalog };
}
