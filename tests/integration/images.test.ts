// Loading images through the packed charm's dispatch, as Juju drives it: the images resource on
// deploy and attach-resource, the load-images action, bad input, and containerd pulling by the
// ORIGINAL reference through a hosts.toml mirror of the public instance.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { writeBusyboxSave, writeDockerSave } from '../support/archives.js';
import { ctrPull, startContainerd } from '../support/containerd.js';
import { DEPLOY, FIXTURES, cleanupUnits, loopbackState, portsOf, runAll, servingPlain, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'images-it-'));
afterAll(async () => {
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function skopeoInspect(port: number, ref: string, raw = false): any {
  const args = ['inspect', '--tls-verify=false', ...(raw ? ['--raw'] : []), `docker://127.0.0.1:${port}/${ref}`];
  return JSON.parse(execFileSync('skopeo', args, { encoding: 'utf8', timeout: 30000 }));
}

const ggcr = (name: string) => path.join(FIXTURES, 'ggcr', name);
const haveFixtures = fs.existsSync(path.join(FIXTURES, 'ggcr'));
if (!haveFixtures) console.warn(`skipping fixture tests: ${FIXTURES} is absent (a clone without ../shared)`);
const withFixtures = haveFixtures ? test : test.skip;

async function deployWith(images: string | undefined, extra: State = {}): Promise<{ sim: Simulator; out: RunOutput; port: number }> {
  const sim = await unit();
  const state = await loopbackState({ ...extra, resources: images ? { images } : {} });
  const out = await runAll(sim, DEPLOY, state);
  return { sim, out, port: portsOf(state).port };
}

withFixtures('deploying with a docker save bundle serves every image under its original name', async () => {
  const { out, port } = await deployWith(ggcr('test_bundle.tar'));
  expect(out.unitStatus).toEqual({ status: 'active', message: servingPlain(2, port) });
  expect(out.statusHistory.some((s) => s.status === 'maintenance' && s.message.startsWith('Loading images'))).toBe(true);
  const one = skopeoInspect(port, 'library/test_image_1:latest');
  const two = skopeoInspect(port, 'library/test_image_2:latest');
  expect(one.Layers).toHaveLength(1);
  expect(two.Layers).toHaveLength(1);
  expect(one.Digest).not.toBe(two.Digest);
});

withFixtures('an unchanged resource is not read again; a new resource revision (upgrade-charm) loads', async () => {
  const { sim, out } = await deployWith(ggcr('test_image_1.tar'));
  const again = await runAll(sim, ['config-changed', 'upgrade-charm', 'config-changed'], out);
  expect(again.thisRun.statusHistory.some((s) => s.message.startsWith('Loading images'))).toBe(false);
  expect(again.unitStatus.message).toMatch(/^Serving 1 images/);

  // juju attach-resource: a new file at the resource path, then upgrade-charm.
  const attached = path.join(tmp, 'attached.tar');
  fs.copyFileSync(ggcr('test_bundle.tar'), attached);
  const upgraded = await runAll(sim, ['upgrade-charm', 'config-changed', 'start'], { ...again, resources: { images: attached } });
  expect(upgraded.unitStatus.message).toMatch(/^Serving 3 images/); // bazel/v1/tarball:test_image_1 + test_image_1 + test_image_2
});

withFixtures('the load-images action reports per image, and a dry run pushes nothing', async () => {
  const { sim, out, port } = await deployWith(undefined);
  expect(out.unitStatus.message).toEqual(servingPlain(0, port));

  const dry = await sim.run({ action: 'load-images', params: { path: ggcr('test_link.tar'), 'dry-run': true } }, out);
  expect(dry.action?.status).toBe('completed');
  expect(dry.action?.results).toMatchObject({ 'dry-run': 'true', 'bytes-pushed': '0', failed: '0' });
  expect(Object.values(dry.action!.results.images as Record<string, { status: string }>).map((i) => i.status)).toEqual(['would-push', 'would-push']);
  expect((await fetch(`http://127.0.0.1:${port}/v2/bazel/v1/tarball/tags/list`)).status).toBe(404);

  const real = await sim.run({ action: 'load-images', params: { path: ggcr('test_link.tar') } }, dry);
  expect(real.action?.status).toBe('completed');
  expect(real.action?.results).toMatchObject({ loaded: '2', failed: '0' });
  expect((real.action!.results.images as Record<string, { path: string }>)['2'].path).toBe('bazel/v1/tarball:test_image_3');
  const tags = (await (await fetch(`http://127.0.0.1:${port}/v2/bazel/v1/tarball/tags/list`)).json()) as { tags: string[] };
  expect(tags.tags.sort()).toEqual(['test_image_1', 'test_image_3']);
  expect(skopeoInspect(port, 'bazel/v1/tarball:test_image_3').Layers).toHaveLength(2);
  expect(real.unitStatus.message).toMatch(/^Serving 2 images/);
}, 60000);

test('load-images of a generated archive: progress in action-log, results, then a cheap reload', async () => {
  const { sim, out, port } = await deployWith(undefined);
  const archive = path.join(tmp, 'generated.tar');
  const { diffIds } = await writeDockerSave(archive, [
    { tags: ['registry.k8s.io/pause:3.9'], layers: [{ seed: 'base', size: 2_000_000 }, { seed: 'pause', size: 100_000 }] },
    { tags: ['rocks.canonical.com:443/cdk/coredns/coredns:1.11.1'], layers: [{ seed: 'base', size: 2_000_000 }, { seed: 'coredns', size: 300_000 }] },
  ]);
  const mtime = 1_700_000_000; // whole seconds, so the test can put it back exactly
  fs.utimesSync(archive, mtime, mtime);
  const first = await sim.run({ action: 'load-images', params: { path: archive } }, out);
  expect(first.action?.status).toBe('completed');
  expect(first.action?.results).toMatchObject({ loaded: '2', failed: '0' });
  expect(Number(first.action?.results['bytes-pushed'])).toBeGreaterThan(2_400_000);
  expect(first.action?.logs.some((l) => /pause:3\.9: pushed/.test(l))).toBe(true);
  expect(first.unitStatus.message).toMatch(/^Serving 2 images/);
  expect(skopeoInspect(port, 'pause:3.9').Layers).toEqual(diffIds[0]);
  expect(skopeoInspect(port, 'cdk/coredns/coredns:1.11.1').Layers).toEqual(diffIds[1]);

  const reload = await sim.run({ action: 'load-images', params: { path: archive } }, first);
  expect(reload.action?.results).toMatchObject({ loaded: '0', present: '2', skipped: '2', 'bytes-pushed': '0', failed: '0' });
  // Nothing changed, so no reconcile: no status-set, and few agent round trips in all.
  expect(reload.thisRun.statusHistory).toEqual([]);
  expect(reload.unitStatus.message).toMatch(/^Serving 2 images/);
  expect(reload.action?.logs).toHaveLength(1);

  // An unchanged file (same inode, size, mtime) whose tags are all still served is not read at
  // all: garbage of the same size with the old mtime restored still reloads as present.
  const fd = fs.openSync(archive, 'r+');
  fs.writeSync(fd, Buffer.alloc(4096, 0x41), 0, 4096, 0);
  fs.closeSync(fd);
  fs.utimesSync(archive, mtime, mtime);
  const statOnly = await sim.run({ action: 'load-images', params: { path: archive } }, reload);
  expect(statOnly.action?.results).toMatchObject({ present: '2', failed: '0', 'bytes-pushed': '0' });

  // Once a tag is gone from the registry, the file is read again (and here found corrupt).
  const removed = await sim.run({ action: 'remove-images', params: { images: 'registry.k8s.io/pause:3.9' } }, statOnly);
  expect(removed.action?.status).toBe('completed');
  const reread = await sim.run({ action: 'load-images', params: { path: archive } }, removed);
  expect(reread.action?.status).toBe('failed');
  expect(reread.action?.message).toContain('generated.tar');
});

test('bad input blocks with a message naming the file, and loses nothing already served', async () => {
  const good = path.join(tmp, 'good.tar');
  await writeDockerSave(good, [{ tags: ['docker.io/library/keep:1'], layers: [{ seed: 'keep', size: 50_000 }] }]);
  const { sim, out, port } = await deployWith(good);
  expect(out.unitStatus.message).toMatch(/^Serving 1 images/);
  const before = skopeoInspect(port, 'library/keep:1').Digest;

  const notAnArchive = path.join(tmp, 'images.tar');
  fs.writeFileSync(notAnArchive, 'this is not a tarball at all, just some text\n'.repeat(30));
  const bad = await runAll(sim, ['upgrade-charm', 'config-changed'], { ...out, resources: { images: notAnArchive } });
  expect(bad.unitStatus.status).toBe('blocked');
  expect(bad.unitStatus.message).toContain('images.tar');
  expect(bad.unitStatus.message).toMatch(/not an image archive|not a tar/i);
  // update-status keeps saying so, and the image loaded before is still served.
  const later = await sim.run('update-status', bad);
  expect(later.unitStatus.status).toBe('blocked');
  expect(skopeoInspect(port, 'library/keep:1').Digest).toBe(before);

  const failed = await sim.run({ action: 'load-images', params: { path: notAnArchive } }, later);
  expect(failed.action?.status).toBe('failed');
  expect(failed.action?.message).toContain('images.tar');

  // A zero-byte resource is Juju's "not supplied": no images yet, not an error.
  const empty = path.join(tmp, 'empty.tar');
  fs.writeFileSync(empty, '');
  const cleared = await runAll(sim, ['upgrade-charm'], { ...later, resources: { images: empty } });
  expect(cleared.unitStatus).toEqual({ status: 'active', message: servingPlain(1, port) });
});

test('load-images path=<an empty file> fails naming it; a load of many images makes few action-log calls', async () => {
  const { sim, out } = await deployWith(undefined);
  const empty = path.join(tmp, 'nothing.tar');
  fs.writeFileSync(empty, '');
  const failed = await sim.run({ action: 'load-images', params: { path: empty } }, out);
  expect(failed.action?.status).toBe('failed');
  expect(failed.action?.message).toContain('nothing.tar');
  expect(failed.action?.message).toMatch(/empty/);

  const many = path.join(tmp, 'many.tar');
  const count = 120;
  await writeDockerSave(many, Array.from({ length: count }, (_, i) => ({ tags: [`docker.io/library/many${i}:1`], layers: [{ seed: `many${i}`, size: 2_000 }] })));
  const loaded = await sim.run({ action: 'load-images', params: { path: many } }, failed);
  expect(loaded.action?.results).toMatchObject({ loaded: String(count), failed: '0' });
  const logs = loaded.action!.logs;
  // Every image is reported, in batches: per 50 lines or per 2 s of the run, plus the first and last line.
  for (let i = 0; i < count; i++) expect(logs.some((l) => l.includes(`library/many${i}:1: pushed`))).toBe(true);
  expect(logs.length).toBeLessThanOrEqual(2 + Math.ceil(count / 50) + Math.ceil(loaded.durationMs / 2000));
  expect(logs.length).toBeLessThan(count / 4);
  expect(logs.at(-1)!.split('\n').at(-1)).toMatch(/^done: 120 loaded/);
}, 60000);

withFixtures('the legacy archive and a null manifest.json fail the action naming the problem', async () => {
  const { sim, out } = await deployWith(undefined);
  const legacy = await sim.run({ action: 'load-images', params: { path: ggcr('no_manifest.tar') } }, out);
  expect(legacy.action?.status).toBe('failed');
  expect(legacy.action?.message).toMatch(/no_manifest\.tar.*legacy|legacy.*no_manifest\.tar/);
  const nullManifest = await sim.run({ action: 'load-images', params: { path: ggcr('null_manifest.tar') } }, out);
  expect(nullManifest.action?.status).toBe('failed');
  expect(nullManifest.action?.message).toContain('null_manifest.tar');
});

test('a load killed midway resumes: the next load pushes only what is missing and completes', async () => {
  const { sim, out, port } = await deployWith(undefined);
  const archive = path.join(tmp, 'big.tar');
  const images = Array.from({ length: 8 }, (_, i) => ({ tags: [`docker.io/library/big${i}:1`], layers: [{ seed: `big${i}`, size: 12_000_000 }] }));
  const { diffIds } = await writeDockerSave(archive, images);
  const total = images.length * 12_000_000;
  // Killed on the event itself: as soon as the registry holds one whole layer of the archive.
  const hasBlob = (i: number) =>
    fetch(`http://127.0.0.1:${port}/v2/library/big${i}/blobs/${diffIds[i][0]}`, { method: 'HEAD' }).then((r) => r.status === 200, () => false);
  const killWhen = async () => (await Promise.all(images.map((_, i) => hasBlob(i)))).some(Boolean);
  const killed = await sim.run({ action: 'load-images', params: { path: archive } }, out, { killWhen });
  expect(killed.killed).toBe(true);
  const heldBefore = (await Promise.all(images.map((_, i) => hasBlob(i)))).filter(Boolean).length;
  expect(heldBefore).toBeGreaterThanOrEqual(1);

  const resumed = await sim.run({ action: 'load-images', params: { path: archive } }, out);
  expect(resumed.action?.status).toBe('completed');
  expect(resumed.action?.results).toMatchObject({ failed: '0' });
  expect(Number(resumed.action?.results.present) + Number(resumed.action?.results.loaded)).toBe(8);
  // What the killed load had pushed is not pushed again.
  expect(Number(resumed.action?.results['bytes-pushed'])).toBeLessThanOrEqual(total - heldBefore * 12_000_000 + 100_000);
  for (let i = 0; i < 8; i++) expect(skopeoInspect(port, `library/big${i}:1`).Layers).toHaveLength(1);
}, 90000);

test('containerd pulls a loaded image by its ORIGINAL reference through a hosts.toml mirror', async () => {
  const archive = path.join(tmp, 'busybox.tar');
  const { sim, out, port } = await deployWith(undefined);
  writeBusyboxSave(archive, ['rocks.canonical.com:443/cdk/test/busybox:1.35']);
  const loaded = await sim.run({ action: 'load-images', params: { path: archive } }, out);
  expect(loaded.action?.results).toMatchObject({ loaded: '1', failed: '0' });

  const hostsDir = path.join(tmp, 'certs.d');
  fs.mkdirSync(path.join(hostsDir, 'rocks.canonical.com:443'), { recursive: true });
  fs.writeFileSync(
    path.join(hostsDir, 'rocks.canonical.com:443', 'hosts.toml'),
    `server = "https://rocks.canonical.com:443"\n[host."http://127.0.0.1:${port}"]\n  capabilities = ["pull", "resolve"]\n`,
  );
  const containerd = await startContainerd({ requireCri: false });
  try {
    const pulled = await ctrPull(containerd, 'rocks.canonical.com:443/cdk/test/busybox:1.35', { hostsDir });
    expect(pulled.output).toContain('done');
    expect(pulled.ok).toBe(true);
  } finally {
    await containerd.stop();
  }
}, 90000);


test('an OCI archive made by skopeo keeps its manifest digest, so image@sha256 references keep working', async () => {
  const source = await deployWith(undefined);
  const archive = path.join(tmp, 'oci-src.tar');
  await writeDockerSave(archive, [{ tags: ['quay.io/example/app:2.0'], layers: [{ seed: 'oci-app', size: 400_000 }] }]);
  const seeded = await source.sim.run({ action: 'load-images', params: { path: archive } }, source.out);
  expect(seeded.action?.results).toMatchObject({ loaded: '1' });
  // skopeo gzips the layers and writes its own OCI manifest: that manifest's digest is "upstream".
  const ociArchive = path.join(tmp, 'app.oci.tar');
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${source.port}/example/app:2.0`, `oci-archive:${ociArchive}:quay.io/example/app:2.0`], { timeout: 30000 });
  const index = JSON.parse(execFileSync('tar', ['-xOf', ociArchive, 'index.json'], { encoding: 'utf8' }));
  const upstreamDigest = index.manifests[0].digest;

  const target = await deployWith(ociArchive);
  expect(target.out.unitStatus.message).toMatch(/^Serving 1 images/);
  const served = execFileSync('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://127.0.0.1:${target.port}/example/app:2.0`], { encoding: 'utf8' }).trim();
  expect(served).toBe(upstreamDigest);
  const byDigest = await fetch(`http://127.0.0.1:${target.port}/v2/example/app/manifests/${upstreamDigest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  expect(byDigest.status).toBe(200);
}, 60000);

test('two images claiming the same path and tag from different hosts: a reported conflict, never an overwrite', async () => {
  const { sim, out, port } = await deployWith(undefined);
  const first = path.join(tmp, 'hub.tar');
  const second = path.join(tmp, 'quay.tar');
  await writeDockerSave(first, [{ tags: ['docker.io/team/app:1'], layers: [{ seed: 'hub-app', size: 30_000 }] }]);
  await writeDockerSave(second, [{ tags: ['quay.io/team/app:1'], layers: [{ seed: 'quay-app', size: 30_000 }] }]);
  const loaded = await sim.run({ action: 'load-images', params: { path: first } }, out);
  expect(loaded.action?.results).toMatchObject({ loaded: '1' });
  const before = skopeoInspect(port, 'team/app:1').Digest;

  const clash = await sim.run({ action: 'load-images', params: { path: second } }, loaded);
  expect(clash.action?.status).toBe('failed');
  expect(clash.action?.message).toMatch(/team\/app:1/);
  expect(clash.action?.message).toMatch(/docker\.io/);
  expect((clash.action!.results.images as Record<string, { status: string }>)['1'].status).toBe('conflict');
  expect(skopeoInspect(port, 'team/app:1').Digest).toBe(before);
});

test('layer-compression=gzip stores docker save layers gzip-compressed, with the same digest on every load', async () => {
  const { sim, out, port } = await deployWith(undefined, { config: { 'layer-compression': 'gzip' } });
  const archive = path.join(tmp, 'gzip.tar');
  await writeDockerSave(archive, [{ tags: ['docker.io/library/zipped:1'], layers: [{ seed: 'zipped', size: 200_000 }] }]);
  const loaded = await sim.run({ action: 'load-images', params: { path: archive } }, out);
  expect(loaded.action?.results).toMatchObject({ loaded: '1', failed: '0' });
  const raw = skopeoInspect(port, 'library/zipped:1', true);
  expect(raw.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual(['application/vnd.docker.image.rootfs.diff.tar.gzip']);

  const other = await deployWith(undefined, { config: { 'layer-compression': 'gzip' } });
  await other.sim.run({ action: 'load-images', params: { path: archive } }, other.out);
  expect(skopeoInspect(other.port, 'library/zipped:1').Digest).toBe(skopeoInspect(port, 'library/zipped:1').Digest);
});

test('cdk-shrinkwrap style bundles load: a tar of containers/*.tar.gz, and the same bundle zstd-compressed', async () => {
  const { sim, out, port } = await deployWith(undefined);
  const dir = path.join(tmp, 'shrinkwrap');
  fs.mkdirSync(path.join(dir, 'containers'), { recursive: true });
  const members = [
    ['pause', 'rocks.canonical.com:443/cdk/pause:3.9'],
    ['coredns', 'rocks.canonical.com:443/cdk/coredns/coredns:1.11.1'],
  ];
  for (const [name, tag] of members) {
    const plain = path.join(dir, `${name}.tar`);
    await writeDockerSave(plain, [{ tags: [tag], layers: [{ seed: `shrink-${name}`, size: 120_000 }] }]);
    execFileSync('sh', ['-c', `gzip -c '${plain}' > '${path.join(dir, 'containers', `${name}.tar.gz`)}' && rm '${plain}'`]);
  }
  const bundle = path.join(tmp, 'shrinkwrap.tar');
  execFileSync('tar', ['-C', dir, '-cf', bundle, 'containers']);
  const loaded = await sim.run({ action: 'load-images', params: { path: bundle } }, out);
  expect(loaded.action?.results).toMatchObject({ loaded: '2', failed: '0' });
  expect(skopeoInspect(port, 'cdk/coredns/coredns:1.11.1').Layers).toHaveLength(1);

  const other = await deployWith(undefined);
  const zstd = `${bundle}.zst`;
  execFileSync('zstd', ['-q', '-f', bundle, '-o', zstd]);
  const fromZstd = await other.sim.run({ action: 'load-images', params: { path: zstd } }, other.out);
  expect(fromZstd.action?.results).toMatchObject({ loaded: '2', failed: '0' });
  expect(skopeoInspect(other.port, 'cdk/pause:3.9').Digest).toBe(skopeoInspect(port, 'cdk/pause:3.9').Digest);
});
