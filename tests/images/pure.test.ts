// Manifest determinism and archive kind detection from content, on small tars built here.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { ArchiveError, fileSource, openTar, safeEntryName, linkTarget, sniffCompression } from '../../src/images/archive.js';
import { buildImageManifest, MEDIA, sha256 } from '../../src/images/manifest.js';
import { detectKind, readDockerSave } from '../../src/images/readers.js';

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'images-pure-'))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

type Entry = { name: string; data?: string | Buffer; type?: 'file' | 'symlink' | 'link' | 'directory'; linkname?: string };
async function makeTar(file: string, entries: Entry[], gzip = false): Promise<string> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type && e.type !== 'file') pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else pack.entry({ name: e.name }, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  const full = path.join(dir, file);
  fs.writeFileSync(full, gzip ? zlib.gzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks));
  return full;
}
const open = async (f: string) => (await openTar(await fileSource(f)))!;

describe('schema2 manifest of a docker-save image', () => {
  const config = { digest: sha256('{}'), size: 2 };
  const layers = [{ mediaType: MEDIA.dockerLayer, digest: `sha256:${'1'.repeat(64)}`, size: 10240 }];
  test('same input, same bytes and digest', () => {
    const a = buildImageManifest(config, layers);
    const b = buildImageManifest({ ...config }, layers.map((l) => ({ ...l })));
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(a.digest).toBe(sha256(a.bytes));
    expect(a.digest).toBe(b.digest);
    expect(JSON.parse(a.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.dockerConfig, size: 2, digest: config.digest },
      layers,
    });
  });
  test('a different layer gives a different digest; zstd layers switch to an OCI manifest', () => {
    expect(buildImageManifest(config, [{ ...layers[0], size: 1 }]).digest).not.toBe(buildImageManifest(config, layers).digest);
    expect(buildImageManifest(config, [{ ...layers[0], mediaType: MEDIA.ociLayerZstd }]).mediaType).toBe(MEDIA.ociManifest);
  });
});

describe('kind detection from content, not file names', () => {
  const cfg = JSON.stringify({ rootfs: { type: 'layers', diff_ids: [] }, os: 'linux', architecture: 'amd64' });
  test('docker save, OCI layout, legacy, bundle and unknown', async () => {
    const save = await makeTar('a.oci', [{ name: 'c.json', data: cfg }, { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: [] }]) }]);
    expect(detectKind(await open(save)).kind).toBe('docker-save');
    const oci = await makeTar('b.tar', [{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: '{"schemaVersion":2,"manifests":[]}' }, { name: 'manifest.json', data: '[]' }]);
    expect(detectKind(await open(oci)).kind).toBe('oci');
    const nested = await makeTar('c.tar', [{ name: 'layout/oci-layout', data: '{}' }, { name: 'layout/index.json', data: '{}' }]);
    expect(detectKind(await open(nested))).toMatchObject({ kind: 'oci', prefix: 'layout/' });
    expect(detectKind(await open(await makeTar('d.tar', [{ name: 'repositories', data: '{}' }]))).kind).toBe('legacy');
    const gz = await makeTar('e.docker', [{ name: 'manifest.json', data: '[]' }], true);
    const bundle = await makeTar('f.bin', [{ name: 'README', data: 'hi' }, { name: 'containers/x.tar.gz', data: fs.readFileSync(gz) }, { name: 'y', data: fs.readFileSync(save) }]);
    expect(detectKind(await open(bundle))).toMatchObject({ kind: 'bundle', members: ['containers/x.tar.gz', 'y'] });
    expect(detectKind(await open(await makeTar('g.tar', [{ name: 'README', data: 'hi' }]))).kind).toBe('unknown');
    expect((await open(gz)).compression).toBe('gzip');
  });
  test('a plain tar is read by byte range, a compressed one in passes', async () => {
    const plain = await open(await makeTar('h.tar', [{ name: 'manifest.json', data: '[]' }, { name: 'blob', data: Buffer.alloc(3000, 7) }]));
    expect(plain.randomAccess).toBe(true);
    const seen: number[] = [];
    await plain.forEach(['blob'], 2, async (_i, o) => {
      for await (const c of o() as AsyncIterable<Buffer>) seen.push(...c);
    });
    expect(seen).toEqual(new Array(3000).fill(7));
  });
  test('compression is sniffed from magic bytes', () => {
    expect(sniffCompression(Buffer.from([0x1f, 0x8b, 8]))).toBe('gzip');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(sniffCompression(Buffer.from('hello'))).toBe('none');
  });
  test('docker-save reading: diff_ids become layer digests without reading layers', async () => {
    const layer = Buffer.alloc(1024, 1);
    const conf = JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256(layer)] }, os: 'linux', architecture: 'arm64' });
    const a = await open(await makeTar('i.tar', [{ name: 'l/layer.tar', data: layer }, { name: 'c.json', data: conf }, { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: null, Layers: ['l/layer.tar'] }]) }]));
    const plan = await readDockerSave(a, '', {});
    expect(plan.images[0].names).toEqual([]);
    expect(plan.images[0].root!.platform).toBe('linux/arm64');
    expect(plan.images[0].root!.blobs.map((b) => b.digest)).toEqual([sha256(conf), sha256(layer)]);
    expect(plan.images[0].root!.digest).toBe(sha256(plan.images[0].root!.bytes!));
  });
});

describe('path safety', () => {
  test('absolute names, .. and escaping links are refused naming the archive and the entry', async () => {
    expect(() => safeEntryName('a.tar', '/etc/passwd')).toThrow('a.tar is refused: entry "/etc/passwd" has an absolute path');
    expect(() => safeEntryName('a.tar', 'x/../../y')).toThrow(`a.tar is refused: entry "x/../../y" climbs out of the archive with '..'`);
    expect(safeEntryName('a.tar', './blobs//sha256/x')).toBe('blobs/sha256/x');
    expect(linkTarget('a.tar', 'b/layer.tar', 'symlink', '../c/layer.tar')).toBe('c/layer.tar');
    expect(() => linkTarget('a.tar', 'b/layer.tar', 'symlink', '../../etc/shadow')).toThrow(/symlink "b\/layer.tar" -> "..\/..\/etc\/shadow" points outside/);
    expect(() => linkTarget('a.tar', 'b', 'link', '/etc/shadow')).toThrow(/hard link "b" -> "\/etc\/shadow" points outside/);
    const evil = await makeTar('evil.tar', [{ name: 'manifest.json', data: '[]' }, { name: 'l', type: 'symlink', linkname: '/etc/passwd' }]);
    await expect(openTar(await fileSource(evil))).rejects.toThrow(ArchiveError);
  });
});
