// What an archive holds, as push plans: docker save (manifest.json) and OCI layouts (index.json).
import { ArchiveError, looksLikeTar, sniffCompression, type Archive } from './archive.js';
import { buildImageManifest, INDEX_TYPES, IMAGE_MANIFEST_TYPES, manifestMediaType, MEDIA, platformString, sha256, type Descriptor } from './manifest.js';

export interface BlobPlan {
  /** Undefined until derived (a layer gzip-compressed on the way, or a compressed layer of unknown digest). */
  digest?: string;
  size: number;
  mediaType: string;
  entry?: string;
  bytes?: Buffer;
  derive?: 'gzip' | 'hash';
  /** sha256 of the uncompressed entry, checked while deriving. */
  diffId?: string;
}

export interface ManifestNode {
  kind: 'image' | 'index';
  mediaType: string;
  digest?: string;
  bytes?: Buffer;
  platform?: string;
  blobs: BlobPlan[];
  children: ManifestNode[];
  missing: { digest: string; platform: string }[];
  /** The index without its missing children, pushed when the registry lacks them too. */
  rewritten?: { bytes: Buffer; digest: string };
  /** docker-save images: the manifest is made once every blob digest is known. */
  build?: () => { mediaType: string; bytes: Buffer; digest: string };
}

export interface ImagePlan {
  names: string[];
  /** An OCI ref.name that is only a tag ("1", "latest"): the repository comes from nameForUnnamed. */
  tagOnly?: string;
  root?: ManifestNode;
  error?: string;
  where: string;
}

export type ArchiveKind = 'oci' | 'docker-save' | 'legacy' | 'bundle' | 'unknown';

export interface ArchivePlan {
  kind: 'oci' | 'docker-save';
  images: ImagePlan[];
}

/** Where the archive's own files start: '' or one top directory holding them (a tarred-up layout dir). */
export function rootPrefix(names: string[]): string {
  const set = new Set(names);
  if (['index.json', 'manifest.json', 'repositories', 'oci-layout'].some((n) => set.has(n))) return '';
  const tops = new Set(names.map((n) => n.split('/')[0]));
  if (tops.size === 1) {
    const top = [...tops][0];
    if (['index.json', 'manifest.json', 'repositories'].some((n) => set.has(`${top}/${n}`))) return `${top}/`;
  }
  return '';
}

export function detectKind(archive: Archive): { kind: ArchiveKind; prefix: string; members: string[] } {
  const names = archive.names();
  const prefix = rootPrefix(names);
  const has = (n: string) => archive.stat(prefix + n) !== undefined;
  if (has('index.json') && (has('oci-layout') || !has('manifest.json'))) return { kind: 'oci', prefix, members: [] };
  if (has('manifest.json')) return { kind: 'docker-save', prefix, members: [] };
  if (has('repositories')) return { kind: 'legacy', prefix, members: [] };
  const members = names.filter((n) => {
    const info = archive.stat(n);
    if (!info || info.name !== n || info.size === 0) return false;
    return sniffCompression(info.head) !== 'none' || looksLikeTar(info.head);
  });
  return { kind: members.length > 0 ? 'bundle' : 'unknown', prefix, members };
}

function parseJson(archive: Archive, name: string, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new ArchiveError(`${archive.label}: ${name} is not valid JSON (${(err as Error).message})`);
  }
}

function blobName(prefix: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return `${prefix}blobs/${alg}/${hex}`;
}

class PlanError extends Error {}

// ---------- docker save ----------

interface SaveEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

export async function readDockerSave(archive: Archive, prefix: string, opts: { layerCompression?: 'none' | 'gzip' }): Promise<ArchivePlan> {
  const parsed = parseJson(archive, 'manifest.json', await archive.readSmall(`${prefix}manifest.json`));
  if (!Array.isArray(parsed)) {
    throw new ArchiveError(`${archive.label}: manifest.json is ${parsed === null ? 'null' : `a ${typeof parsed}`}, expected a list of images: re-save the archive`);
  }
  const images: ImagePlan[] = [];
  for (const [i, raw] of (parsed as SaveEntry[]).entries()) {
    const where = `manifest.json entry ${i + 1}`;
    const names = Array.isArray(raw?.RepoTags) ? (raw.RepoTags as unknown[]).filter((t): t is string => typeof t === 'string') : [];
    try {
      images.push({ names, root: await dockerSaveImage(archive, prefix, raw, where, opts), where });
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      images.push({ names, error: `${archive.label}: ${err.message}`, where });
    }
  }
  return { kind: 'docker-save', images };
}

async function dockerSaveImage(archive: Archive, prefix: string, raw: SaveEntry, where: string, opts: { layerCompression?: 'none' | 'gzip' }): Promise<ManifestNode> {
  if (typeof raw?.Config !== 'string' || !Array.isArray(raw.Layers)) throw new PlanError(`${where} has no Config file or no Layers list`);
  const configName = prefix + raw.Config;
  if (!archive.stat(configName)) throw new PlanError(`${where} names config ${raw.Config}, absent from the archive`);
  const configBytes = await archive.readSmall(configName);
  const config = parseJson(archive, raw.Config, configBytes) as { rootfs?: { diff_ids?: unknown }; os?: string; architecture?: string; variant?: string };
  const diffIds = Array.isArray(config?.rootfs?.diff_ids) ? (config.rootfs!.diff_ids as string[]) : [];
  const layers = raw.Layers as unknown[];
  if (diffIds.length !== layers.length) {
    throw new PlanError(`${where}: config ${raw.Config} lists ${diffIds.length} layer diff_ids but the entry has ${layers.length} layers`);
  }
  const blobs: BlobPlan[] = [];
  for (const [j, layer] of layers.entries()) {
    if (typeof layer !== 'string') throw new PlanError(`${where}: layer ${j + 1} is not a path`);
    const info = archive.stat(prefix + layer);
    if (!info) throw new PlanError(`${where} names layer ${layer}, absent from the archive`);
    const compression = sniffCompression(info.head);
    if (compression === 'gzip') blobs.push({ size: info.size, mediaType: MEDIA.dockerLayerGzip, entry: info.name, derive: 'hash' });
    else if (compression === 'zstd') blobs.push({ size: info.size, mediaType: MEDIA.ociLayerZstd, entry: info.name, derive: 'hash' });
    else if (opts.layerCompression === 'gzip') blobs.push({ size: 0, mediaType: MEDIA.dockerLayerGzip, entry: info.name, derive: 'gzip', diffId: diffIds[j] });
    else blobs.push({ digest: diffIds[j], size: info.size, mediaType: MEDIA.dockerLayer, entry: info.name });
  }
  const configBlob: BlobPlan = { digest: sha256(configBytes), size: configBytes.length, mediaType: MEDIA.dockerConfig, bytes: configBytes };
  const node: ManifestNode = {
    kind: 'image',
    mediaType: MEDIA.dockerManifest,
    platform: platformString(config),
    blobs: [configBlob, ...blobs],
    children: [],
    missing: [],
    build: () => {
      const missing = blobs.find((b) => !b.digest);
      if (missing) throw new Error(`${where}: layer ${missing.entry} has no digest yet`);
      return buildImageManifest({ digest: configBlob.digest!, size: configBlob.size }, blobs.map((b) => ({ mediaType: b.mediaType, digest: b.digest!, size: b.size })));
    },
  };
  // A Docker >= 25 save keeps the upstream manifest among its blobs: push that one, its digest is the real one.
  const upstream = await findUpstreamManifest(archive, prefix, configBlob.digest!, blobs);
  if (upstream) return { ...upstream, platform: node.platform };
  if (blobs.every((b) => b.digest)) Object.assign(node, node.build!());
  return node;
}

async function findUpstreamManifest(archive: Archive, prefix: string, configDigest: string, layers: BlobPlan[]): Promise<ManifestNode | undefined> {
  if (!layers.every((l) => l.entry?.startsWith(`${prefix}blobs/sha256/`))) return undefined;
  for (const name of archive.names()) {
    if (!name.startsWith(`${prefix}blobs/sha256/`)) continue;
    const info = archive.stat(name);
    if (!info || info.size > 64 * 1024 || info.head[0] !== 0x7b) continue;
    const bytes = await archive.readSmall(name);
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      continue;
    }
    const config = json.config as Descriptor | undefined;
    const mls = json.layers as Descriptor[] | undefined;
    if (config?.digest !== configDigest || !Array.isArray(mls) || mls.length !== layers.length) continue;
    if (!mls.every((l, i) => blobName(prefix, l.digest) === layers[i].entry)) continue;
    const mediaType = manifestMediaType(json);
    if (!mediaType || !IMAGE_MANIFEST_TYPES.includes(mediaType) || sha256(bytes) !== `sha256:${name.split('/').pop()}`) continue;
    const node = ociImageNode(archive, prefix, json, bytes, mediaType, `sha256:${name.split('/').pop()}`);
    if (typeof node === 'object') return node;
  }
  return undefined;
}

// ---------- OCI layout ----------

export async function readOciLayout(archive: Archive, prefix: string): Promise<ArchivePlan> {
  const index = parseJson(archive, 'index.json', await archive.readSmall(`${prefix}index.json`)) as { manifests?: unknown } | null;
  if (!index || typeof index !== 'object') throw new ArchiveError(`${archive.label}: index.json is not an OCI image index object`);
  const descriptors = Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
  const images: ImagePlan[] = [];
  for (const [i, desc] of descriptors.entries()) {
    const where = `index.json entry ${i + 1}`;
    const annotations = desc?.annotations ?? {};
    const full = annotations['io.containerd.image.name'];
    const refName = annotations['org.opencontainers.image.ref.name'];
    const plan: ImagePlan = { names: [], where };
    if (full) plan.names.push(full);
    else if (refName && /[/:@]/.test(refName)) plan.names.push(refName);
    else if (refName) plan.tagOnly = refName;
    try {
      if (!desc || typeof desc.digest !== 'string') throw new PlanError(`${where} has no digest`);
      const node = await ociNode(archive, prefix, desc, where, 0);
      if (node === 'missing') throw new PlanError(`${where} names manifest ${desc.digest}, absent from the archive`);
      if (typeof node === 'string') throw new PlanError(node);
      if (node.kind === 'index' && node.children.length === 0) {
        throw new PlanError(`${where}: none of the platforms of index ${desc.digest} is in the archive (missing ${node.missing.map((m) => m.platform).join(', ')})`);
      }
      plan.root = node;
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      plan.error = `${archive.label}: ${err.message}`;
    }
    images.push(plan);
  }
  return { kind: 'oci', images };
}

/** A manifest node, 'missing' when its blob is absent, or a string saying what else is wrong. */
async function ociNode(archive: Archive, prefix: string, desc: Descriptor, where: string, depth: number): Promise<ManifestNode | 'missing' | string> {
  if (depth > 8) return `${where}: indexes nested more than 8 deep`;
  if (desc.mediaType && !IMAGE_MANIFEST_TYPES.includes(desc.mediaType) && !INDEX_TYPES.includes(desc.mediaType)) {
    return `${where} has media type ${desc.mediaType}, neither an image manifest nor an index: not loaded`;
  }
  if (!/^sha256:[a-f0-9]{64}$/.test(desc.digest)) return `${where}: unsupported digest ${JSON.stringify(desc.digest)} (sha256 only)`;
  const name = blobName(prefix, desc.digest);
  if (!archive.stat(name)) return 'missing';
  const bytes = await archive.readSmall(name);
  if (sha256(bytes) !== desc.digest) return `${where}: blob ${desc.digest} does not match its digest (the archive is corrupt)`;
  const json = parseJson(archive, name, bytes) as Record<string, unknown>;
  const mediaType = manifestMediaType(json, desc.mediaType);
  if (!mediaType) return `${where}: blob ${desc.digest} is neither an image manifest nor an index`;
  if (IMAGE_MANIFEST_TYPES.includes(mediaType)) {
    const node = ociImageNode(archive, prefix, json, bytes, mediaType, desc.digest);
    if (typeof node === 'string') return `${where}: ${node}`;
    if (desc.platform) node.platform = platformString(desc.platform);
    return node;
  }
  const node: ManifestNode = { kind: 'index', mediaType, digest: desc.digest, bytes, blobs: [], children: [], missing: [] };
  const children = Array.isArray(json.manifests) ? (json.manifests as Descriptor[]) : [];
  for (const [k, child] of children.entries()) {
    const sub = await ociNode(archive, prefix, child, `${where} > manifest ${k + 1}`, depth + 1);
    if (typeof sub === 'object') {
      if (child.platform) sub.platform = platformString(child.platform);
      node.children.push(sub);
    } else node.missing.push({ digest: child.digest, platform: platformString(child.platform) });
  }
  if (node.missing.length > 0 && node.children.length > 0) {
    const missing = new Set(node.missing.map((m) => m.digest));
    const copy = { ...json, manifests: children.filter((c) => !missing.has(c.digest)) };
    const rewritten = Buffer.from(JSON.stringify(copy));
    node.rewritten = { bytes: rewritten, digest: sha256(rewritten) };
  }
  return node;
}

function ociImageNode(archive: Archive, prefix: string, json: Record<string, unknown>, bytes: Buffer, mediaType: string, digest: string): ManifestNode | string {
  const config = json.config as Descriptor | undefined;
  const layers = Array.isArray(json.layers) ? (json.layers as Descriptor[]) : [];
  if (!config?.digest) return `manifest ${digest} has no config`;
  const blobs: BlobPlan[] = [];
  for (const d of [config, ...layers]) {
    const entry = blobName(prefix, d.digest);
    const info = archive.stat(entry);
    if (!info) {
      if (d.urls?.length) continue; // foreign layer: pulled from its URLs, never pushed
      return `manifest ${digest} names blob ${d.digest}, absent from the archive`;
    }
    if (typeof d.size === 'number' && d.size !== info.size) return `blob ${d.digest} is ${info.size} bytes in the archive but the manifest says ${d.size}`;
    blobs.push({ digest: d.digest, size: info.size, mediaType: d.mediaType ?? 'application/octet-stream', entry: info.name });
  }
  return { kind: 'image', mediaType, digest, bytes, blobs, children: [], missing: [] };
}
