// A runnable one-layer busybox image pushed straight over the distribution API (no charm, no
// loader): for tests of containerd and the registry themselves.
import crypto from 'node:crypto';
import fs from 'node:fs';
import tarStream from 'tar-stream';

export const BUSYBOX_REPO = 'cdk/test/busybox';
export const BUSYBOX_TAG = '1.35';

const sha256 = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

/** One uncompressed layer holding /bin/busybox and /bin/sh -> busybox. */
export async function busyboxLayer(): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (d: unknown) => chunks.push(d as Buffer));
  const done = new Promise<void>((r) => pack.on('end', () => r()));
  const mtime = new Date(0);
  pack.entry({ name: 'bin/', type: 'directory', mode: 0o755, mtime });
  pack.entry({ name: 'bin/busybox', mode: 0o755, mtime }, fs.readFileSync('/bin/busybox'));
  pack.entry({ name: 'bin/sh', type: 'symlink', linkname: 'busybox', mode: 0o777, mtime });
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function pushBlob(registryUrl: string, repo: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  if ((await fetch(`${registryUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status === 200) return digest;
  const start = await fetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`blob upload start answered ${start.status}`);
  const location = new URL(start.headers.get('location')!, registryUrl);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) },
    body: new Uint8Array(blob),
  });
  if (put.status !== 201) throw new Error(`blob upload answered ${put.status}`);
  return digest;
}

/**
 * Pushes a Docker schema2 busybox image (uncompressed layer, as the charm pushes docker-save
 * layers) to `${BUSYBOX_REPO}:${BUSYBOX_TAG}`. CRI names an image by its config digest (the image
 * ID); ctr prints the manifest digest.
 */
export async function pushBusybox(registryUrl: string): Promise<{ manifestDigest: string; imageId: string }> {
  const layer = await busyboxLayer();
  const arch = ({ x64: 'amd64', arm64: 'arm64', s390x: 's390x', ppc64: 'ppc64le' } as Record<string, string>)[process.arch] ?? process.arch;
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const layerDigest = await pushBlob(registryUrl, BUSYBOX_REPO, layer);
  const configDigest = await pushBlob(registryUrl, BUSYBOX_REPO, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: configDigest },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', size: layer.length, digest: layerDigest }],
    }),
  );
  const res = await fetch(`${registryUrl}/v2/${BUSYBOX_REPO}/manifests/${BUSYBOX_TAG}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
    body: new Uint8Array(manifest),
  });
  if (res.status !== 201) throw new Error(`manifest upload answered ${res.status}`);
  return { manifestDigest: sha256(manifest), imageId: configDigest };
}
