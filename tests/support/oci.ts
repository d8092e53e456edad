// Writes OCI image layouts (directories) of generated images, multi-platform indexes included.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

export interface PlatformImage { os?: string; architecture: string; layers: Buffer[] }

function writeBlob(dir: string, bytes: Buffer): { digest: string; size: number } {
  const hex = sha(bytes);
  fs.mkdirSync(path.join(dir, 'blobs/sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'blobs/sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** An OCI layout holding one index of the given platforms, named `reference`. Returns the index digest. */
export function writeOciLayout(dir: string, reference: string, platforms: PlatformImage[]): { indexDigest: string; manifestDigests: string[] } {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const manifests = platforms.map((p) => {
    const layers = p.layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...writeBlob(dir, l) }));
    const config = Buffer.from(JSON.stringify({ architecture: p.architecture, os: p.os ?? 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(dir, config) }, layers }));
    return { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...writeBlob(dir, manifest), platform: { architecture: p.architecture, os: p.os ?? 'linux' } };
  });
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  const written = writeBlob(dir, index);
  const tag = reference.slice(reference.lastIndexOf(':') + 1);
  fs.writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...written, annotations: { 'io.containerd.image.name': reference, 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { indexDigest: written.digest, manifestDigests: manifests.map((m) => m.digest) };
}

/** A tar layer holding the given files (name -> content), as `tar` writes it. */
export function tarLayer(files: Record<string, Buffer | string>, workDir: string): Buffer {
  const root = fs.mkdtempSync(path.join(workDir, 'layer-'));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    fs.writeFileSync(path.join(root, name), content, { mode: 0o755 });
  }
  const out = `${root}.tar`;
  // Fixed owner and mtime so the same files give the same digest.
  execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name', '-C', root, '-cf', out, ...Object.keys(files)]);
  return fs.readFileSync(out);
}
