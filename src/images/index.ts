// The image loader: reads archives, bundles and layout directories and pushes them to the registry.
// Order per archive: blobs (HEAD, mount, upload), then child manifests by digest, then tags; a tag is put
// only once every blob under it is verified present, so a failed load never leaves a half-tagged image.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveError, DirArchive, fileSource, openTar, type Archive, type ByteSource } from './archive.js';
import { detectKind, readDockerSave, readOciLayout, type ArchivePlan, type BlobPlan, type ImagePlan, type ManifestNode } from './readers.js';
import { formatReference, parseReference, registryPath, type ImageReference } from './reference.js';
import { INDEX_TYPES, IMAGE_MANIFEST_TYPES } from './manifest.js';
import type { RegistryClient } from './remote/index.js';

export { parseReference, registryPath, formatReference, type ImageReference } from './reference.js';

export type { RegistryClient } from './remote/index.js';

export interface CatalogEntry {
  host: string;
  digest: string;
  source: string;
}
export type Catalog = Record<string, CatalogEntry>;

export interface ProgressEvent {
  image: string; // registry path:tag
  source: string;
  status: ImageResult['status'];
  bytes: number; // pushed for this image
  totalBytes: number; // pushed so far in this load
  seconds: number;
  bytesPerSecond: number;
}

export interface LoadOptions {
  registry: RegistryClient;
  layerCompression?: 'none' | 'gzip';
  dryRun?: boolean;
  concurrency?: number;
  catalog?: Catalog;
  nameForUnnamed?: string;
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
  /** Where gzip-compressed layers and members of compressed bundles are spooled (default os.tmpdir()). */
  workDir?: string;
}

export interface ImageResult {
  reference: string;
  path: string;
  host: string;
  digest?: string;
  status: 'pushed' | 'present' | 'would-push' | 'failed' | 'conflict' | 'skipped';
  bytesPushed: number;
  platforms?: string[];
  missingPlatforms?: string[];
  message?: string;
  source: string;
}

export interface LoadReport {
  images: ImageResult[];
  errors: { source: string; message: string }[];
  bytesPushed: number;
  seconds: number;
  catalog: Catalog;
  hosts: string[];
}

export async function loadImages(sources: string[], opts: LoadOptions): Promise<LoadReport> {
  const loader = new Loader(opts);
  try {
    for (const s of sources) {
      loader.checkAbort();
      await loader.loadPath(s);
    }
    loader.checkAbort();
  } finally {
    await loader.cleanup();
  }
  return loader.report();
}

interface Target {
  plan: ImagePlan;
  ref: ImageReference;
  reference: string;
  path: string;
  repo: string;
}

function errorMessage(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

const LAYOUT_MARKERS = ['index.json', 'oci-layout', 'manifest.json', 'repositories'];

class Loader {
  private readonly started = Date.now();
  private readonly images: ImageResult[] = [];
  private readonly errors: { source: string; message: string }[] = [];
  private readonly catalog: Catalog;
  private readonly claims = new Map<string, { host: string; digest: string; source: string; reference: string }>();
  private readonly blobHolders = new Map<string, string>(); // digest -> a repo that has it
  private catalogIndexed = false;
  private bytesPushed = 0;
  private workDir?: string;
  private readonly concurrency: number;

  constructor(private readonly opts: LoadOptions) {
    this.catalog = { ...(opts.catalog ?? {}) };
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
  }

  checkAbort(): void {
    const s = this.opts.signal;
    if (s?.aborted) throw s.reason instanceof Error ? s.reason : new Error('image load aborted');
  }

  async cleanup(): Promise<void> {
    if (this.workDir) await fsp.rm(this.workDir, { recursive: true, force: true });
  }

  private async tempFile(name: string): Promise<string> {
    this.workDir ??= await fsp.mkdtemp(path.join(this.opts.workDir ?? os.tmpdir(), 'offline-registry-load-'));
    return path.join(this.workDir, `${Date.now()}-${Math.random().toString(36).slice(2)}-${name.replace(/[^\w.-]/g, '_').slice(-60)}`);
  }

  report(): LoadReport {
    const hosts = [...new Set(Object.values(this.catalog).map((e) => e.host))].sort();
    return { images: this.images, errors: this.errors, bytesPushed: this.bytesPushed, seconds: (Date.now() - this.started) / 1000, catalog: this.catalog, hosts };
  }

  private fail(source: string, err: unknown): void {
    this.checkAbort();
    this.errors.push({ source, message: errorMessage(err) });
  }

  async loadPath(p: string): Promise<void> {
    let st: fs.Stats;
    try {
      st = await fsp.stat(p);
    } catch (err) {
      this.errors.push({ source: p, message: `${p} cannot be read: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}` });
      return;
    }
    if (st.isDirectory()) {
      const names = (await fsp.readdir(p)).sort();
      if (names.some((n) => LAYOUT_MARKERS.includes(n))) {
        try {
          await this.loadArchive(await DirArchive.open(p), 0);
        } catch (err) {
          this.fail(p, err);
        }
        return;
      }
      for (const n of names) {
        if (n.startsWith('.')) continue;
        await this.loadPath(path.join(p, n));
      }
      return;
    }
    await this.loadBytes(await fileSource(p), 0);
  }

  private async loadBytes(src: ByteSource, depth: number): Promise<void> {
    try {
      const archive = await openTar(src, this.opts.signal);
      if (archive) await this.loadArchive(archive, depth);
    } catch (err) {
      this.fail(src.label, err);
    }
  }

  private async loadArchive(archive: Archive, depth: number): Promise<void> {
    const { kind, prefix, members } = detectKind(archive);
    if (kind === 'legacy') {
      throw new ArchiveError(`${archive.label} is a legacy docker save archive (only 'repositories', no manifest.json): re-save it with Docker >= 1.10`);
    }
    if (kind === 'unknown' || (kind === 'bundle' && depth >= 3)) {
      throw new ArchiveError(`${archive.label} is not an image archive: expected manifest.json or index.json`);
    }
    if (kind === 'bundle') return this.loadBundle(archive, members, depth);
    let plan: ArchivePlan;
    if (kind === 'oci') {
      plan = await readOciLayout(archive, prefix);
      // Docker 25+ may leave index.json empty and list the images only in manifest.json.
      if (plan.images.length === 0 && archive.stat(`${prefix}manifest.json`)) plan = await readDockerSave(archive, prefix, this.opts);
    } else plan = await readDockerSave(archive, prefix, this.opts);
    await this.pushPlan(archive, plan);
  }

  private async loadBundle(bundle: Archive, members: string[], depth: number): Promise<void> {
    if (bundle.randomAccess) {
      for (const m of members) {
        this.checkAbort();
        await this.loadBytes(bundle.memberSource(m)!, depth + 1);
      }
      return;
    }
    // A compressed bundle is read in one pass; each member is spooled to disk, loaded, then removed.
    const failures = await bundle.forEach(
      members,
      1,
      async (info, open) => {
        const file = await this.tempFile(path.posix.basename(info.name));
        try {
          await pipeline(open(), fs.createWriteStream(file, { mode: 0o600 }));
          await this.loadBytes({ ...(await fileSource(file)), label: `${bundle.label}!${info.name}` }, depth + 1);
        } finally {
          await fsp.rm(file, { force: true });
        }
      },
      this.opts.signal,
    );
    for (const [m, err] of failures) this.fail(`${bundle.label}!${m}`, err);
  }

  // ---------- naming and conflicts ----------

  private targetsOf(plan: ImagePlan, source: string): Target[] {
    const refs: string[] = [...plan.names];
    if (refs.length === 0) {
      if (!this.opts.nameForUnnamed) {
        this.result({
          reference: '',
          path: '',
          host: '',
          status: 'skipped',
          bytesPushed: 0,
          source,
          message: `${source}: ${plan.where} has no name (no RepoTags, no io.containerd.image.name annotation)${plan.tagOnly ? ` besides the tag ${JSON.stringify(plan.tagOnly)}` : ''}: set nameForUnnamed to load it`,
        });
        return [];
      }
      const base = parseReference(this.opts.nameForUnnamed);
      refs.push(formatReference({ host: base.host, repository: base.repository, tag: plan.tagOnly ?? base.tag ?? 'latest' }));
    }
    const targets: Target[] = [];
    for (const name of refs) {
      try {
        const ref = parseReference(name);
        targets.push({ plan, ref, reference: formatReference(ref), path: registryPath(ref), repo: ref.repository });
      } catch (err) {
        this.result({ reference: name, path: '', host: '', status: 'failed', bytesPushed: 0, source, message: `${source}: ${errorMessage(err)}` });
      }
    }
    return targets;
  }

  private conflict(t: Target, digest: string, source: string): string | undefined {
    const claim = this.claims.get(t.path);
    if (claim && claim.digest !== digest) {
      return `${t.reference} from ${source} and ${claim.reference} from ${claim.source} are different images (${digest} vs ${claim.digest}) that would both be served as ${t.path}: load only one of them`;
    }
    const prev = this.catalog[t.path];
    if (!claim && prev && prev.host !== t.ref.host && prev.digest !== digest) {
      return `${t.reference} from ${source} would replace ${t.path} loaded earlier from ${prev.host} (${prev.source}, ${prev.digest}), a different image: remove that one first or load only one of them`;
    }
    return undefined;
  }

  private result(r: ImageResult): void {
    this.images.push(r);
    const seconds = (Date.now() - this.started) / 1000;
    this.opts.onProgress?.({
      image: r.path || r.reference,
      source: r.source,
      status: r.status,
      bytes: r.bytesPushed,
      totalBytes: this.bytesPushed,
      seconds,
      bytesPerSecond: seconds > 0 ? this.bytesPushed / seconds : 0,
    });
  }

  // ---------- pushing ----------

  private async pushPlan(archive: Archive, plan: ArchivePlan): Promise<void> {
    const source = archive.label;
    const reg = this.opts.registry;
    let targets: Target[] = [];
    for (const img of plan.images) {
      const ts = this.targetsOf(img, source);
      if (img.error) {
        for (const t of ts) this.result({ ...this.base(t, source), status: 'failed', message: img.error });
        if (ts.length === 0 && (img.names.length > 0 || this.opts.nameForUnnamed)) this.errors.push({ source, message: img.error });
        else if (ts.length === 0) this.errors.push({ source, message: img.error });
        continue;
      }
      targets.push(...ts);
    }
    // Conflicts known before any byte moves.
    targets = targets.filter((t) => this.claimOrConflict(t, source, true));
    if (targets.length === 0) return;

    // Layers compressed on the way, or of unknown digest: spool them once to learn the digest.
    const roots = [...new Set(targets.map((t) => t.plan.root!))];
    const blobFailures = new Map<BlobPlan, string>();
    await this.derive(archive, roots, blobFailures);
    for (const r of roots) if (!r.digest && r.build && !allBlobs(r).some((b) => blobFailures.has(b))) Object.assign(r, r.build());
    targets = targets.filter((t) => !t.plan.root!.digest || this.claimOrConflict(t, source, false));

    // Which (repo, blob) pairs are missing.
    const needs = new Map<string, { blob: BlobPlan; repos: Set<string> }>();
    for (const t of targets) {
      for (const b of allBlobs(t.plan.root!)) {
        if (!b.digest) continue;
        const n = needs.get(b.digest) ?? { blob: b, repos: new Set<string>() };
        n.repos.add(t.repo);
        needs.set(b.digest, n);
      }
    }
    const pairs = [...needs.values()].flatMap((n) => [...n.repos].map((repo) => ({ n, repo })));
    const missing = new Map<string, { blob: BlobPlan; repos: string[] }>();
    await mapLimitAll(pairs, this.concurrency * 2, async ({ n, repo }) => {
      this.checkAbort();
      const size = await reg.hasBlob(repo, n.blob.digest!);
      if (size !== null) this.blobHolders.set(n.blob.digest!, repo);
      else {
        const m = missing.get(n.blob.digest!) ?? { blob: n.blob, repos: [] };
        m.repos.push(repo);
        missing.set(n.blob.digest!, m);
      }
    });

    const uploaded = new Map<string, number>(); // digest -> bytes sent in this archive
    if (!this.opts.dryRun && missing.size > 0) {
      if (!this.catalogIndexed && [...missing.keys()].some((d) => !this.blobHolders.has(d))) await this.indexCatalog();
      // Mount what another repository already holds; what is left is uploaded once, then mounted.
      const toUpload: { blob: BlobPlan; repos: string[] }[] = [];
      await mapLimitAll([...missing.values()], this.concurrency, async (m) => {
        const rest: string[] = [];
        for (const repo of m.repos) {
          const from = this.blobHolders.get(m.blob.digest!);
          if (from && from !== repo && (await reg.mountBlob(repo, m.blob.digest!, from).catch(() => false))) continue;
          rest.push(repo);
        }
        if (rest.length > 0) toUpload.push({ blob: m.blob, repos: rest });
      });
      const afterUpload = async (m: { blob: BlobPlan; repos: string[] }) => {
        uploaded.set(m.blob.digest!, m.blob.size);
        this.bytesPushed += m.blob.size;
        this.blobHolders.set(m.blob.digest!, m.repos[0]);
        for (const repo of m.repos.slice(1)) {
          if (!(await reg.mountBlob(repo, m.blob.digest!, m.repos[0]))) throw new Error(`blob ${m.blob.digest} could not be mounted from ${m.repos[0]} into ${repo}`);
        }
      };
      const fromEntries = new Map<string, { blob: BlobPlan; repos: string[] }>();
      const inMemory: { blob: BlobPlan; repos: string[] }[] = [];
      for (const m of toUpload) {
        if (m.blob.bytes || spooled.has(m.blob)) inMemory.push(m);
        else fromEntries.set(m.blob.entry!, m);
      }
      await mapLimitAll(inMemory, this.concurrency, async (m) => {
        try {
          this.checkAbort();
          const bytes = m.blob.bytes;
          const file = spooled.get(m.blob);
          await reg.uploadBlob(m.repos[0], m.blob.digest!, m.blob.size, () => (bytes ? Readable.from([bytes]) : fs.createReadStream(file!)));
          await afterUpload(m);
        } catch (err) {
          blobFailures.set(m.blob, `${source}: blob ${m.blob.digest}: ${errorMessage(err)}`);
        }
      });
      const failures = await archive.forEach(
        [...fromEntries.keys()],
        this.concurrency,
        async (_info, open) => {
          const m = fromEntries.get(_info.name) ?? [...fromEntries.values()].find((x) => archive.stat(x.blob.entry!)?.name === _info.name)!;
          this.checkAbort();
          await reg.uploadBlob(m.repos[0], m.blob.digest!, m.blob.size, open);
          await afterUpload(m);
        },
        this.opts.signal,
      );
      for (const [entry, err] of failures) {
        const m = fromEntries.get(entry) ?? [...fromEntries.values()].find((x) => archive.stat(x.blob.entry!)?.name === entry);
        if (m) blobFailures.set(m.blob, `${source}: ${m.blob.entry} (blob ${m.blob.digest}): ${errorMessage(err)}`);
      }
      this.checkAbort();
    }

    // Manifests: only for images whose every blob is there.
    const charged = new Set<string>();
    for (const t of targets) {
      this.checkAbort();
      const root = t.plan.root!;
      const base = this.base(t, source);
      const failed = allBlobs(root).find((b) => blobFailures.has(b) || !b.digest);
      if (failed) {
        this.result({ ...base, status: 'failed', message: blobFailures.get(failed) ?? `${source}: layer ${failed.entry} could not be prepared` });
        continue;
      }
      let bytes = 0;
      for (const b of allBlobs(root)) {
        if (uploaded.has(b.digest!) && !charged.has(b.digest!)) {
          charged.add(b.digest!);
          bytes += b.size;
        }
      }
      const missingBlobs = allBlobs(root).some((b) => missing.has(b.digest!));
      try {
        const current = await reg.hasManifest(t.repo, t.ref.tag ?? t.ref.digest!);
        if (this.opts.dryRun) {
          const present = current === root.digest && !missingBlobs;
          this.result({ ...base, status: present ? 'present' : 'would-push', message: present ? undefined : `would push ${t.path} (${root.digest})` });
          continue;
        }
        const message = await this.putManifests(t.repo, root);
        let status: ImageResult['status'] = 'present';
        if (current !== root.digest || bytes > 0) {
          const tagged = t.ref.tag ? await reg.putManifest(t.repo, t.ref.tag, root.mediaType, this.manifestBytes(root)) : root.digest;
          if (tagged !== this.pushedDigest(root)) throw new Error(`the registry stored ${t.path} as ${tagged}, expected ${this.pushedDigest(root)}`);
          status = 'pushed';
        }
        this.catalog[t.path] = { host: t.ref.host, digest: this.pushedDigest(root)!, source };
        this.result({ ...base, digest: this.pushedDigest(root), status, bytesPushed: bytes, ...(message ? { message } : {}) });
      } catch (err) {
        this.checkAbort();
        this.result({ ...base, status: 'failed', bytesPushed: bytes, message: `${source}: ${t.path}: ${errorMessage(err)}` });
      }
    }
  }

  private base(t: Target, source: string): ImageResult {
    const root = t.plan.root;
    const platforms = root ? platformsOf(root) : [];
    const missing = root ? missingOf(root) : [];
    return {
      reference: t.reference,
      path: t.path,
      host: t.ref.host,
      ...(root?.digest ? { digest: root.digest } : {}),
      status: 'failed',
      bytesPushed: 0,
      ...(platforms.length ? { platforms } : {}),
      ...(missing.length ? { missingPlatforms: missing } : {}),
      source,
    };
  }

  /** Registers the claim of a target, or reports it as a conflict (false). */
  private claimOrConflict(t: Target, source: string, early: boolean): boolean {
    const digest = t.plan.root!.digest;
    if (!digest) return true;
    const conflict = this.conflict(t, digest, source);
    if (conflict) {
      this.result({ ...this.base(t, source), status: 'conflict', message: conflict });
      return false;
    }
    if (early || !this.claims.has(t.path)) this.claims.set(t.path, { host: t.ref.host, digest, source, reference: t.reference });
    return true;
  }

  /** Pushes child manifests of an index by digest (deepest first); returns a note about missing platforms. */
  private async putManifests(repo: string, node: ManifestNode): Promise<string | undefined> {
    if (node.kind !== 'index') return undefined;
    const reg = this.opts.registry;
    for (const child of node.children) {
      await this.putManifests(repo, child);
      if ((await reg.hasManifest(repo, this.pushedDigest(child)!)) === null) await reg.putManifest(repo, this.pushedDigest(child)!, child.mediaType, this.manifestBytes(child));
    }
    if (node.missing.length === 0) return undefined;
    const absent = [];
    for (const m of node.missing) if ((await reg.hasManifest(repo, m.digest)) === null) absent.push(m);
    if (absent.length === 0) {
      node.rewritten = undefined; // the registry holds the other platforms already: keep the upstream index
      return undefined;
    }
    return `platforms missing from the archive: ${absent.map((m) => m.platform).join(', ')}; pushed an index of the ${node.children.length} present (digest ${node.rewritten!.digest} instead of upstream ${node.digest})`;
  }

  private manifestBytes(node: ManifestNode): Buffer {
    return node.rewritten?.bytes ?? node.bytes!;
  }
  private pushedDigest(node: ManifestNode): string | undefined {
    return node.rewritten?.digest ?? node.digest;
  }

  /** Which repositories of earlier loads hold which blobs, for cross-repository mounts. */
  private async indexCatalog(): Promise<void> {
    this.catalogIndexed = true;
    const reg = this.opts.registry;
    const seen = new Set<string>();
    const entries = Object.entries(this.catalog).slice(0, 200);
    await mapLimitAll(entries, this.concurrency, async ([p, e]) => {
      const repo = p.replace(/[:@].*$/, '');
      if (seen.has(repo)) return;
      seen.add(repo);
      const visit = async (ref: string, depth: number): Promise<void> => {
        const m = await reg.getManifest(repo, ref).catch(() => null);
        if (!m) return;
        const json = JSON.parse(m.bytes.toString('utf8')) as { config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] };
        for (const d of [json.config, ...(json.layers ?? [])]) if (d?.digest && !this.blobHolders.has(d.digest)) this.blobHolders.set(d.digest, repo);
        if (depth < 2) for (const c of json.manifests ?? []) await visit(c.digest, depth + 1);
      };
      await visit(e.digest, 0);
    });
  }

  private async derive(archive: Archive, roots: ManifestNode[], failures: Map<BlobPlan, string>): Promise<void> {
    const byEntry = new Map<string, BlobPlan[]>();
    for (const r of roots) for (const b of allBlobs(r)) if (b.derive && !b.digest) byEntry.set(b.entry!, [...(byEntry.get(b.entry!) ?? []), b]);
    if (byEntry.size === 0) return;
    const result = await archive.forEach(
      [...byEntry.keys()],
      this.concurrency,
      async (info, open) => {
        const blobs = byEntry.get(info.name) ?? [...byEntry.entries()].find(([e]) => archive.stat(e)?.name === info.name)![1];
        const first = blobs[0];
        const file = await this.tempFile(path.posix.basename(info.name));
        const done = await spool(open(), file, first.derive === 'gzip');
        if (first.diffId && done.rawDigest !== first.diffId) {
          throw new ArchiveError(`${archive.label}: layer ${info.name} does not match its diff_id ${first.diffId} (it hashes to ${done.rawDigest}): the archive is corrupt`);
        }
        for (const b of blobs) {
          b.digest = done.digest;
          b.size = done.size;
          spooled.set(b, file);
        }
      },
      this.opts.signal,
    );
    for (const [entry, err] of result) {
      const blobs = byEntry.get(entry) ?? [...byEntry.entries()].find(([e]) => archive.stat(e)?.name === entry)?.[1] ?? [];
      for (const b of blobs) failures.set(b, `${archive.label}: ${entry}: ${errorMessage(err)}`);
    }
  }
}

// Spool files of derived blobs; the loader's temp directory is removed at the end of the load.
const spooled = new WeakMap<BlobPlan, string>();

/**
 * Writes a layer to a temp file (gzip-compressed when asked), hashing input and output on the way.
 * Spooling costs one layer of disk, but the upload needs the digest and size before its first byte, and
 * compressing twice (once to hash, once to send) would double the CPU, the dominant cost of gzip.
 */
async function spool(input: Readable, file: string, gzip: boolean): Promise<{ digest: string; size: number; rawDigest: string }> {
  const raw = createHash('sha256');
  const out = createHash('sha256');
  let size = 0;
  const tap = (h: ReturnType<typeof createHash>, count: boolean) =>
    new Transform({
      transform(chunk: Buffer, _e, cb) {
        h.update(chunk);
        if (count) size += chunk.length;
        cb(null, chunk);
      },
    });
  const stages: NodeJS.ReadWriteStream[] = [tap(raw, false)];
  if (gzip) stages.push(zlib.createGzip({ level: zlib.constants.Z_DEFAULT_COMPRESSION }));
  stages.push(tap(out, true));
  await pipeline(input, ...(stages as [Transform]), fs.createWriteStream(file, { mode: 0o600 }));
  return { digest: `sha256:${out.digest('hex')}`, size, rawDigest: `sha256:${raw.digest('hex')}` };
}

function allBlobs(node: ManifestNode): BlobPlan[] {
  return [...node.blobs, ...node.children.flatMap(allBlobs)];
}

function platformsOf(node: ManifestNode): string[] {
  if (node.kind === 'image') return node.platform && node.platform !== 'unknown' ? [node.platform] : [];
  return [...new Set(node.children.flatMap(platformsOf))];
}

function missingOf(node: ManifestNode): string[] {
  return [...new Set([...node.missing.map((m) => m.platform), ...node.children.flatMap(missingOf)])];
}

/** Like mapLimit, but every item runs even when some fail; the first failure is rethrown at the end. */
async function mapLimitAll<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  let first: unknown;
  const worker = async () => {
    for (let t = queue.shift(); t !== undefined; t = queue.shift()) {
      try {
        await fn(t);
      } catch (err) {
        first ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (first !== undefined) throw first;
}

export { IMAGE_MANIFEST_TYPES, INDEX_TYPES };
