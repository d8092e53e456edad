// Media types, manifest parsing helpers, and the deterministic schema2 manifest built for docker-save images.
import { createHash } from 'node:crypto';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

export const IMAGE_MANIFEST_TYPES: readonly string[] = [MEDIA.dockerManifest, MEDIA.ociManifest];
export const INDEX_TYPES: readonly string[] = [MEDIA.dockerList, MEDIA.ociIndex];

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

export function platformString(p: { os?: string; architecture?: string; variant?: string } | undefined): string {
  if (!p || (!p.os && !p.architecture)) return 'unknown';
  return [p.os ?? 'unknown', p.architecture ?? 'unknown', p.variant].filter(Boolean).join('/');
}

/** Media type of manifest bytes: their own mediaType field, else the descriptor's, else by shape. */
export function manifestMediaType(json: Record<string, unknown>, declared?: string): string | undefined {
  const own = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  if (own && (IMAGE_MANIFEST_TYPES.includes(own) || INDEX_TYPES.includes(own))) return own;
  if (declared && (IMAGE_MANIFEST_TYPES.includes(declared) || INDEX_TYPES.includes(declared))) return declared;
  if (Array.isArray(json.manifests)) return MEDIA.ociIndex;
  if (json.config && Array.isArray(json.layers)) return MEDIA.ociManifest;
  return undefined;
}

export interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/**
 * The registry manifest of a docker-save image. Fixed key order and formatting, so the same config and
 * layers give the same bytes, hence the same digest, on every load.
 */
export function buildImageManifest(config: { digest: string; size: number }, layers: LayerDescriptor[]): { mediaType: string; bytes: Buffer; digest: string } {
  // Docker schema2 has no zstd layer type: such an image gets an OCI manifest instead.
  const oci = layers.some((l) => l.mediaType === MEDIA.ociLayerZstd);
  const mediaType = oci ? MEDIA.ociManifest : MEDIA.dockerManifest;
  const layerType = (t: string) => {
    if (!oci) return t;
    if (t === MEDIA.dockerLayer) return MEDIA.ociLayer;
    if (t === MEDIA.dockerLayerGzip) return MEDIA.ociLayerGzip;
    return t;
  };
  const manifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: oci ? MEDIA.ociConfig : MEDIA.dockerConfig, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: layerType(l.mediaType), size: l.size, digest: l.digest })),
  };
  const bytes = Buffer.from(JSON.stringify(manifest, null, 3));
  return { mediaType, bytes, digest: sha256(bytes) };
}
