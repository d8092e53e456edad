// Copies one tagged image from a peer's registry into this unit's writer over the distribution API:
// blobs first (skipped when present, mounted when another repository here has them, else streamed
// with their digest verified on the way), child manifests by digest, the tag last. A tag therefore
// appears only once everything under it is here: a unit never serves a half-copied image.
import { mapLimit, type RegistryClient } from '../images/remote/index.js';

export type SourceClient = Pick<RegistryClient, 'getManifest' | 'openBlob'>;
export type DestClient = Pick<RegistryClient, 'hasBlob' | 'mountBlob' | 'uploadBlob' | 'hasManifest' | 'putManifest'>;

/** The peer does not hold this image (any more): try another peer. */
export class NotOnPeer extends Error {}

interface Descriptor {
  digest: string;
  size: number;
  mediaType?: string;
  urls?: string[];
}

interface ParsedManifest {
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

export interface CopyStats {
  blobsCopied: number;
  blobsPresent: number;
  bytesCopied: number;
}

/** Where a blob already is on the destination, so a shared base layer is mounted, not copied again. */
export type BlobHolders = Map<string, string>;

export async function copyImage(
  src: SourceClient,
  dst: DestClient,
  path: string,
  digest: string,
  holders: BlobHolders = new Map(),
  stats: CopyStats = { blobsCopied: 0, blobsPresent: 0, bytesCopied: 0 },
): Promise<CopyStats> {
  const colon = path.lastIndexOf(':');
  const repo = path.slice(0, colon);
  const tag = path.slice(colon + 1);
  const root = await copyTree(src, dst, repo, digest, holders, stats, false);
  await dst.putManifest(repo, tag, root.mediaType, root.bytes);
  return stats;
}

async function copyTree(
  src: SourceClient,
  dst: DestClient,
  repo: string,
  digest: string,
  holders: BlobHolders,
  stats: CopyStats,
  putByDigest: boolean,
): Promise<{ bytes: Buffer; mediaType: string }> {
  // getManifest by digest checks the bytes hash to it.
  const manifest = await src.getManifest(repo, digest);
  if (!manifest) throw new NotOnPeer(`${repo}@${digest} is not on this peer`);
  const parsed = JSON.parse(manifest.bytes.toString('utf8')) as ParsedManifest;
  if (Array.isArray(parsed.manifests)) {
    for (const child of parsed.manifests) {
      if ((await dst.hasManifest(repo, child.digest)) === child.digest) continue;
      await copyTree(src, dst, repo, child.digest, holders, stats, true);
    }
  } else {
    const blobs = [...(parsed.config ? [parsed.config] : []), ...(parsed.layers ?? [])];
    await mapLimit(blobs, 4, (blob) => copyBlob(src, dst, repo, blob, holders, stats));
  }
  if (putByDigest) await dst.putManifest(repo, digest, manifest.mediaType, manifest.bytes);
  return manifest;
}

async function copyBlob(src: SourceClient, dst: DestClient, repo: string, blob: Descriptor, holders: BlobHolders, stats: CopyStats): Promise<void> {
  if ((await dst.hasBlob(repo, blob.digest)) !== null) {
    stats.blobsPresent++;
    holders.set(blob.digest, repo);
    return;
  }
  const from = holders.get(blob.digest);
  if (from && from !== repo && (await dst.mountBlob(repo, blob.digest, from))) {
    stats.blobsPresent++;
    return;
  }
  let missing = false;
  try {
    await dst.uploadBlob(repo, blob.digest, blob.size, async () => {
      const stream = await src.openBlob(repo, blob.digest);
      if (!stream) {
        missing = true;
        throw new NotOnPeer(`blob ${blob.digest} of ${repo} is not on this peer`);
      }
      return stream;
    });
  } catch (err) {
    // Foreign (non-distributable) layers live at their urls, not in any registry.
    if (missing && blob.urls?.length) return;
    if (missing) throw new NotOnPeer(`blob ${blob.digest} of ${repo} is not on this peer`);
    throw err;
  }
  stats.blobsCopied++;
  stats.bytesCopied += blob.size;
  holders.set(blob.digest, repo);
}
