// Builds small real images (random layers, OCI manifests and indexes) and pushes them to a test registry.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { MEDIA_TYPES, type RegistryClient } from '../../src/images/remote/index.js';

export const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface Blob {
  bytes: Buffer;
  digest: string;
  size: number;
}

export function blob(bytesOrSize: Buffer | number): Blob {
  const bytes = typeof bytesOrSize === 'number' ? randomBytes(bytesOrSize) : bytesOrSize;
  return { bytes, digest: sha(bytes), size: bytes.length };
}

export interface PushedImage {
  digest: string;
  manifest: Buffer;
  config: Blob;
  layers: Blob[];
  /** manifest + config + layers, each blob once */
  size: number;
}

export function imageManifest(layers: Blob[], platform = { os: 'linux', architecture: 'amd64' }): { manifest: Buffer; config: Blob } {
  const config = blob(Buffer.from(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, nonce: randomBytes(8).toString('hex') })));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size })),
    }),
  );
  return { manifest, config };
}

async function pushBlob(client: RegistryClient, repo: string, b: Blob): Promise<void> {
  if ((await client.hasBlob(repo, b.digest)) !== null) return;
  await client.uploadBlob(repo, b.digest, b.size, () => Readable.from([b.bytes]));
}

/** Pushes config, layers and the manifest; tags it when `tag` is given, else pushes by digest. */
export async function pushImage(client: RegistryClient, repo: string, tag: string | null, layers: Blob[], platform?: { os: string; architecture: string; variant?: string }): Promise<PushedImage> {
  const { manifest, config } = imageManifest(layers, platform);
  for (const b of [config, ...layers]) await pushBlob(client, repo, b);
  const digest = await client.putManifest(repo, tag ?? sha(manifest), MEDIA_TYPES.ociManifest, manifest);
  const unique = new Map([config, ...layers].map((b) => [b.digest, b.size]));
  return { digest, manifest, config, layers, size: manifest.length + [...unique.values()].reduce((a, b) => a + b, 0) };
}

export interface PushedIndex {
  digest: string;
  index: Buffer;
  children: PushedImage[];
  /** index + children manifests + every blob once */
  size: number;
}

export async function pushIndex(
  client: RegistryClient,
  repo: string,
  tag: string,
  platforms: Array<{ platform: { os: string; architecture: string; variant?: string }; layers: Blob[] }>,
): Promise<PushedIndex> {
  const children: PushedImage[] = [];
  for (const p of platforms) children.push(await pushImage(client, repo, null, p.layers, p.platform));
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: children.map((c, i) => ({ mediaType: MEDIA_TYPES.ociManifest, digest: c.digest, size: c.manifest.length, platform: platforms[i].platform })),
    }),
  );
  const digest = await client.putManifest(repo, tag, MEDIA_TYPES.ociIndex, index);
  const blobs = new Map<string, number>();
  for (const c of children) for (const b of [c.config, ...c.layers]) blobs.set(b.digest, b.size);
  const size = index.length + children.reduce((a, c) => a + c.manifest.length, 0) + [...blobs.values()].reduce((a, b) => a + b, 0);
  return { digest, index, children, size };
}
