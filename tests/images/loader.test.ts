// The loader against a real registry: archives made here and by skopeo, bundles, bad input, conflicts, resume.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import tar from 'tar-stream';
import { loadImages, type LoadOptions } from '../../src/images/index.js';
import { createRegistryClient } from '../../src/images/remote/index.js';
import { sha256 } from '../../src/images/manifest.js';
import { startTestRegistry, type TestRegistry } from '../support/registry.js';

let dir: string;
let reg: TestRegistry;
let client: ReturnType<typeof createRegistryClient>;

async function tarBytes(entries: { name: string; data?: Buffer; type?: 'symlink' | 'link'; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type) pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
    else pack.entry({ name: e.name, mode: 0o755 }, e.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}
const write = (name: string, data: Buffer) => {
  const f = path.join(dir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, data);
  return f;
};

/** A docker save (<= 24) archive of a busybox image; `salt` makes a different image. */
async function dockerSave(tags: string[] | null, salt = '', arch = 'amd64'): Promise<{ bytes: Buffer; diffId: string; config: Buffer }> {
  const layer = await tarBytes([{ name: 'bin/busybox', data: fs.readFileSync('/usr/bin/busybox') }, { name: 'etc/salt', data: Buffer.from(salt) }]);
  const diffId = sha256(layer);
  const config = Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: { Cmd: ['/bin/busybox', 'sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const id = sha256(config).slice(7);
  const bytes = await tarBytes([
    { name: `${id}.json`, data: config },
    { name: `${diffId.slice(7)}/layer.tar`, data: layer },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `${id}.json`, RepoTags: tags, Layers: [`${diffId.slice(7)}/layer.tar`] }])) },
  ]);
  return { bytes, diffId, config };
}

const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8', timeout: 30000 });
const inspect = (ref: string) => JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${reg.host}/${ref}`));
const rawManifest = (ref: string) => skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/${ref}`);
const opts = (extra: Partial<LoadOptions> = {}): LoadOptions => ({ registry: client, ...extra });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'images-loader-'));
  reg = await startTestRegistry();
  client = createRegistryClient({ baseUrl: reg.url });
});
afterAll(async () => {
  client?.close();
  await reg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('docker save archive loads, reloads with 0 bytes, and skopeo sees the same diff ids', async () => {
  const img = await dockerSave(['rocks.canonical.com:443/cdk/busybox:1.0']);
  const file = write('bb.tar', img.bytes);
  const first = await loadImages([file], opts());
  expect(first.errors).toEqual([]);
  expect(first.images[0]).toMatchObject({ path: 'cdk/busybox:1.0', host: 'rocks.canonical.com:443', status: 'pushed', platforms: ['linux/amd64'] });
  expect(first.bytesPushed).toBeGreaterThan(1_900_000);
  expect(inspect('cdk/busybox:1.0').Layers).toEqual([img.diffId]);
  expect(first.hosts).toEqual(['rocks.canonical.com:443']);
  const again = await loadImages([file], opts({ catalog: first.catalog }));
  expect(again.bytesPushed).toBe(0);
  expect(again.images[0]).toMatchObject({ status: 'present', digest: first.images[0].digest });
  // Dry run on a new tag: nothing pushed, reported as would-push.
  const dry = await loadImages([write('bb2.tar', (await dockerSave(['cdk/busybox:dry'], 'dry')).bytes)], opts({ dryRun: true }));
  expect(dry.images[0]).toMatchObject({ status: 'would-push', path: 'cdk/busybox:dry' });
  expect(await client.hasManifest('cdk/busybox', 'dry')).toBeNull();
});

test('gzip layer compression gives the same manifest digest on every load', async () => {
  const file = write('gz.tar', (await dockerSave(['cdk/gz:1'], 'gz')).bytes);
  const a = await loadImages([file], opts({ layerCompression: 'gzip' }));
  expect(a.images[0]).toMatchObject({ status: 'pushed' });
  const m = JSON.parse(rawManifest('cdk/gz:1'));
  expect(m.layers[0].mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip');
  expect(m.layers[0].size).toBeLessThan(1_500_000);
  const b = await loadImages([file], opts({ layerCompression: 'gzip' }));
  expect(b.images[0]).toMatchObject({ status: 'present', digest: a.images[0].digest });
  expect(b.bytesPushed).toBe(0);
});

test('skopeo docker-archive, oci-archive and oci layout dir load with the expected content', async () => {
  const img = await dockerSave(['cdk/src:1'], 'skopeo');
  await loadImages([write('src.tar', img.bytes)], opts());
  const src = `docker://${reg.host}/cdk/src:1`;
  skopeo('copy', '--src-tls-verify=false', src, `docker-archive:${dir}/sk-docker.tar:quay.io/sk/docker:1`);
  skopeo('copy', '--src-tls-verify=false', src, `oci-archive:${dir}/sk-oci.tar:quay.io/sk/oci:1`);
  skopeo('copy', '--src-tls-verify=false', src, `oci:${dir}/sk-layout:quay.io/sk/layout:1`);
  const report = await loadImages([`${dir}/sk-docker.tar`, `${dir}/sk-oci.tar`, `${dir}/sk-layout`], opts());
  expect(report.errors).toEqual([]);
  expect(report.images.map((i) => [i.path, i.status])).toEqual([
    ['sk/docker:1', 'pushed'],
    ['sk/oci:1', 'pushed'],
    ['sk/layout:1', 'pushed'],
  ]);
  expect(inspect('sk/docker:1').Layers).toEqual([img.diffId]);
  // OCI inputs are pushed byte for byte: the digest is the one in the layout.
  const layoutIndex = JSON.parse(fs.readFileSync(`${dir}/sk-layout/index.json`, 'utf8'));
  expect(inspect('sk/layout:1').Digest).toBe(layoutIndex.manifests[0].digest);
  expect(report.images[2].digest).toBe(layoutIndex.manifests[0].digest);
  expect(inspect('sk/oci:1').Digest).toBe(report.images[1].digest);
});

/** An OCI layout with a two-platform index, written by hand; returns the digests. */
async function twoPlatformLayout(name: string, ref: string) {
  const layout = path.join(dir, name);
  const blob = (b: Buffer) => {
    const d = sha256(b);
    write(`${name}/blobs/sha256/${d.slice(7)}`, b);
    return { digest: d, size: b.length };
  };
  const manifests = [];
  for (const arch of ['amd64', 'arm64']) {
    const layer = zlib.gzipSync(await tarBytes([{ name: 'etc/arch', data: Buffer.from(arch) }]));
    const l = blob(layer);
    const c = blob(Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(zlib.gunzipSync(layer))] } })));
    const m = blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...c },
          layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l }],
        }),
      ),
    );
    manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m, platform: { os: 'linux', architecture: arch } });
  }
  const index = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests })));
  write(`${name}/oci-layout`, Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  write(
    `${name}/index.json`,
    Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', ...index, annotations: { 'io.containerd.image.name': ref } }] })),
  );
  return { layout, index, manifests };
}

test('OCI layout with a two-platform index keeps the upstream index digest; a single-platform export reports the missing one', async () => {
  const full = await twoPlatformLayout('multi', 'registry.k8s.io/multi:1');
  const report = await loadImages([full.layout], opts());
  expect(report.images[0]).toMatchObject({ path: 'multi:1', host: 'registry.k8s.io', status: 'pushed', digest: full.index.digest, platforms: ['linux/amd64', 'linux/arm64'] });
  expect(inspect('multi:1').Digest).toBe(full.index.digest);

  const partial = await twoPlatformLayout('single', 'registry.k8s.io/single:1');
  fs.rmSync(path.join(partial.layout, 'blobs/sha256', partial.manifests[1].digest.slice(7)));
  const r2 = await loadImages([partial.layout], opts());
  expect(r2.images[0]).toMatchObject({ path: 'single:1', status: 'pushed', platforms: ['linux/amd64'], missingPlatforms: ['linux/arm64'] });
  expect(r2.images[0].message).toMatch(/platforms missing from the archive: linux\/arm64/);
  expect(JSON.parse(rawManifest('single:1')).manifests.map((m: { digest: string }) => m.digest)).toEqual([partial.manifests[0].digest]);
});

test('bundles (tar and tar.gz) load good members and report the corrupt one by bundle and member', async () => {
  const good = zlib.gzipSync((await dockerSave(['cdk/member:1'], 'member')).bytes);
  const bad = zlib.gzipSync((await dockerSave(['cdk/bad:1'], 'bad')).bytes).subarray(0, 5000);
  const inner = await tarBytes([{ name: 'containers/good.tar.gz', data: good }, { name: 'containers/bad.tar.gz', data: bad }, { name: 'README', data: Buffer.from('hi') }]);
  const plain = write('bundle.tar', inner);
  const gz = write('bundle.tgz', zlib.gzipSync(inner));
  for (const file of [plain, gz]) {
    const r = await loadImages([file], opts());
    expect(r.images).toEqual([expect.objectContaining({ path: 'cdk/member:1', status: expect.stringMatching(/pushed|present/) })]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0].source).toBe(`${file}!containers/bad.tar.gz`);
    expect(r.errors[0].message).toMatch(new RegExp(`^${file}!containers/bad.tar.gz is corrupt or truncated: gzip`));
  }
});

test('bad input: not an archive, empty, truncated tar, corrupt gzip, path traversal, digest mismatch', async () => {
  const img = await dockerSave(['cdk/trunc:1'], 'trunc');
  const notArchive = write('images.tar', await tarBytes([{ name: 'hello.txt', data: Buffer.from('x') }]));
  const empty = write('empty.tar', Buffer.alloc(0));
  const truncated = write('truncated.tar', img.bytes.subarray(0, 600_000));
  const corruptGz = zlib.gzipSync(img.bytes);
  corruptGz.fill(0x55, 1000, 1100);
  const badGz = write('corrupt.tar.gz', corruptGz);
  const dotdot = write('dotdot.tar', await tarBytes([{ name: '../x', data: Buffer.from('x') }, { name: 'manifest.json', data: Buffer.from('[]') }]));
  const symlink = write('symlink.tar', await tarBytes([{ name: 'manifest.json', data: Buffer.from('[]') }, { name: 'a/layer.tar', type: 'symlink', linkname: '../../../etc/passwd' }]));
  const r = await loadImages([notArchive, empty, truncated, badGz, dotdot, symlink], opts());
  expect(r.images).toEqual([]);
  const msg = (f: string) => r.errors.find((e) => e.source === f)?.message;
  expect(msg(notArchive)).toBe(`${notArchive} is not an image archive: expected manifest.json or index.json`);
  expect(msg(empty)).toBeUndefined();
  expect(msg(truncated)).toMatch(/truncated\.tar is truncated or corrupt/);
  expect(msg(badGz)).toMatch(/corrupt\.tar\.gz is corrupt or truncated: gzip/);
  expect(msg(dotdot)).toMatch(/dotdot\.tar is refused: entry "\.\.\/x"/);
  expect(msg(symlink)).toMatch(/symlink\.tar is refused: symlink "a\/layer.tar" -> "..\/..\/..\/etc\/passwd" points outside/);
  expect(r.errors).toHaveLength(5);

  // An OCI layout whose layer bytes were altered: refused by digest, nothing tagged.
  const altered = await twoPlatformLayout('altered', 'quay.io/altered:1');
  const manifest = JSON.parse(fs.readFileSync(path.join(altered.layout, 'blobs/sha256', altered.manifests[0].digest.slice(7)), 'utf8'));
  const layerFile = path.join(altered.layout, 'blobs/sha256', manifest.layers[0].digest.slice(7));
  const bytes = fs.readFileSync(layerFile);
  bytes[bytes.length - 1] ^= 0xff;
  fs.writeFileSync(layerFile, bytes);
  const r2 = await loadImages([altered.layout], opts());
  expect(r2.images[0]).toMatchObject({ path: 'altered:1', status: 'failed' });
  expect(r2.images[0].message).toMatch(/digest|sha256/i);
  expect(await client.hasManifest('altered', '1')).toBeNull();
  expect(await client.tags('altered')).toEqual([]);
});

test('conflict: the same path:tag from two hosts with different content is never overwritten', async () => {
  const a = write('conf-a.tar', (await dockerSave(['docker.io/x/y:1'], 'a')).bytes);
  const b = write('conf-b.tar', (await dockerSave(['quay.io/x/y:1'], 'b')).bytes);
  const same = await loadImages([a, b], opts());
  expect(same.images.map((i) => i.status)).toEqual(['pushed', 'conflict']);
  expect(same.images[1].message).toMatch(/x\/y:1/);
  const first = same.images[0].digest;
  const later = await loadImages([b], opts({ catalog: same.catalog }));
  expect(later.images[0]).toMatchObject({ status: 'conflict', path: 'x/y:1' });
  expect(later.images[0].message).toMatch(/loaded earlier from docker.io/);
  expect(await client.hasManifest('x/y', '1')).toBe(first);
});

test('an aborted load resumes: the second load completes every image and skips what is there', async () => {
  const files = [];
  for (let i = 0; i < 4; i++) files.push(write(`resume-${i}.tar`, (await dockerSave([`cdk/resume${i}:1`], `resume${i}`)).bytes));
  const controller = new AbortController();
  let seen = 0;
  const aborted = loadImages(files, opts({ signal: controller.signal, onProgress: () => ++seen === 1 && controller.abort(new Error('stop')) }));
  await expect(aborted).rejects.toThrow('stop');
  const done = await loadImages(files, opts());
  expect(done.errors).toEqual([]);
  expect(done.images.map((i) => i.status)).toEqual(['present', 'pushed', 'pushed', 'pushed']);
  for (let i = 0; i < 4; i++) expect(await client.hasManifest(`cdk/resume${i}`, '1')).toBe(done.images[i].digest);
});

test('leaving digest checks to the registry (registryVerifiesDigests): altered bytes still fail and nothing is tagged', async () => {
  const trusting = createRegistryClient({ baseUrl: reg.url }, { registryVerifiesDigests: true, retryBaseMs: 10 });
  try {
    const good = write('trusting-good.tar', (await dockerSave(['cdk/trusting-good:1'], 'trusting-good')).bytes);
    const ok = await loadImages([good], opts({ registry: trusting }));
    expect(ok.images[0]).toMatchObject({ path: 'cdk/trusting-good:1', status: 'pushed' });

    // Same length, one byte flipped in the layer: only a hash can tell, and here only the registry hashes.
    const img = await dockerSave(['cdk/trusting-bad:1'], 'trusting-bad');
    const at = img.bytes.indexOf(Buffer.from('trusting-bad')); // the salt file's content, inside the layer
    expect(at).toBeGreaterThan(0);
    img.bytes[at] ^= 0x01;
    const bad = write('trusting-bad.tar', img.bytes);
    const r = await loadImages([bad], opts({ registry: trusting }));
    expect(r.images[0]).toMatchObject({ path: 'cdk/trusting-bad:1', status: 'failed' });
    expect(r.images[0].message).toMatch(/DIGEST_INVALID|digest invalid|does not match/i);
    expect(await client.hasManifest('cdk/trusting-bad', '1')).toBeNull();
    expect(await client.hasBlob('cdk/trusting-bad', img.diffId)).toBeNull();
  } finally {
    trusting.close();
  }
});
