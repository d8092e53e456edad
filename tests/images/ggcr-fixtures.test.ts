// Loads go-containerregistry's real test archives into a real registry and checks what lands there.
import fs from 'node:fs';
import path from 'node:path';
import { loadImages, type LoadReport } from '../../src/images/index.js';
import { createRegistryClient } from '../../src/images/remote/index.js';
import { startTestRegistry, type TestRegistry } from '../support/registry.js';

const FIXTURES = path.resolve(process.cwd(), '../shared/fixtures/ggcr');
const haveFixtures = fs.existsSync(FIXTURES);
if (!haveFixtures) console.warn(`SKIPPED: ${FIXTURES} is absent (a clone without ../shared): the ggcr fixture tests did not run`);
const describeFixtures = haveFixtures ? describe : describe.skip;
const fixture = (n: string) => path.join(FIXTURES, n);

describeFixtures('loading go-containerregistry fixtures into a real registry', () => {
  let reg: TestRegistry;
  let client: ReturnType<typeof createRegistryClient>;
  beforeAll(async () => {
    reg = await startTestRegistry();
    client = createRegistryClient({ baseUrl: reg.url });
  });
  afterAll(async () => {
    client?.close();
    await reg?.stop();
  });
  const load = (files: string[], extra: Partial<Parameters<typeof loadImages>[1]> = {}): Promise<LoadReport> =>
    loadImages(files.map(fixture), { registry: client, ...extra });

  test('docker save <= 24: test_image_1 gets a schema2 manifest with the config diff_ids as layers', async () => {
    const report = await load(['test_image_1.tar']);
    expect(report.errors).toEqual([]);
    expect(report.images).toHaveLength(1);
    const [img] = report.images;
    expect(img).toMatchObject({ reference: 'docker.io/bazel/v1/tarball:test_image_1', path: 'bazel/v1/tarball:test_image_1', host: 'docker.io', status: 'pushed' });
    const m = await client.getManifest('bazel/v1/tarball', 'test_image_1');
    expect(m?.digest).toBe(img.digest);
    const json = JSON.parse(m!.bytes.toString());
    expect(json.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(json.config.digest).toBe('sha256:6e0b05049ed9c17d02e1a55e80d6599dbfcce7f4f4b022e3c673e685789c470e');
    expect(json.layers.map((l: { digest: string }) => l.digest)).toEqual(['sha256:8897395fd26dc44ad0e2a834335b33198cb41ac4d98dfddf58eced3853fa7b17']);
    expect(report.catalog['bazel/v1/tarball:test_image_1']).toEqual({ host: 'docker.io', digest: img.digest, source: fixture('test_image_1.tar') });
    expect(report.hosts).toEqual(['docker.io']);

    const again = await load(['test_image_1.tar'], { catalog: report.catalog });
    expect(again.bytesPushed).toBe(0);
    expect(again.images[0]).toMatchObject({ status: 'present', digest: img.digest });
  });

  test('test_image_2 and test_bundle (two images in one archive)', async () => {
    const report = await load(['test_image_2.tar', 'test_bundle.tar']);
    expect(report.errors).toEqual([]);
    expect(report.images.map((i) => [i.path, i.status])).toEqual([
      ['bazel/v1/tarball:test_image_2', 'pushed'],
      ['library/test_image_2:latest', 'pushed'],
      ['library/test_image_1:latest', 'pushed'],
    ]);
    expect(await client.tags('library/test_image_1')).toEqual(['latest']);
  });

  test('test_link: layers shared through hard and symbolic links', async () => {
    const report = await load(['test_link.tar']);
    expect(report.errors).toEqual([]);
    const img3 = report.images.find((i) => i.path === 'bazel/v1/tarball:test_image_3')!;
    expect(img3.status).toBe('pushed');
    const m = JSON.parse((await client.getManifest('bazel/v1/tarball', 'test_image_3'))!.bytes.toString());
    expect(m.layers.map((l: { digest: string }) => l.digest)).toEqual([
      'sha256:8897395fd26dc44ad0e2a834335b33198cb41ac4d98dfddf58eced3853fa7b17',
      'sha256:6b617a2706576ed038acdc3aa668cac62010386a5a3d227d83aada32085c9f29',
    ]);
  });

  test('hello-world-v25: unnamed is skipped, with nameForUnnamed it is pushed with the upstream manifest', async () => {
    const skipped = await load(['hello-world-v25.tar']);
    expect(skipped.errors).toEqual([]);
    expect(skipped.images).toEqual([expect.objectContaining({ status: 'skipped', message: expect.stringMatching(/no name.*nameForUnnamed/) })]);
    const named = await load(['hello-world-v25.tar'], { nameForUnnamed: 'docker.io/library/hello-world:v25' });
    expect(named.images).toEqual([expect.objectContaining({ path: 'library/hello-world:v25', status: 'pushed', platforms: ['linux/arm64'] })]);
    // The OCI manifest stored in the archive's blobs is pushed unchanged: the upstream digest.
    expect(named.images[0].digest).toBe('sha256:411caf340c828657e915a83ed561a79d2b8150dabad4dc079d881cbfe6f86afe');
    expect(await client.hasManifest('library/hello-world', 'v25')).toBe(named.images[0].digest);
  });

  test('oci-layout-test_index: manifest, nested index and manifest list loaded, invalid media type reported', async () => {
    const report = await load(['oci-layout-test_index.tar'], { nameForUnnamed: 'example.com/ggcr/index' });
    const byTag = Object.fromEntries(report.images.map((i) => [i.path, i]));
    expect(byTag['ggcr/index:1']).toMatchObject({ status: 'pushed', digest: 'sha256:eebff607b1628d67459b0596643fc07de70d702eccf030f0bc7bb6fc2b278650', host: 'example.com' });
    expect(byTag['ggcr/index:3']).toMatchObject({ status: 'pushed', digest: 'sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5' });
    expect(byTag['ggcr/index:2']).toMatchObject({ status: 'failed', message: expect.stringContaining('application/vnd.oci.descriptor.v1+json') });
    // The Docker manifest list of tag 4 has no mediaType field in its body: distribution 2.8 refuses it.
    expect(byTag['ggcr/index:4']).toMatchObject({ status: 'failed', message: expect.stringContaining('MANIFEST_INVALID') });
    expect(await client.hasManifest('ggcr/index', '3')).toBe('sha256:05f95b26ed10668b7183c1e2da98610e91372fa9f510046d4ce5812addad86b5');
  });

  test('oci-layout one image and unusual media type keep their upstream digests', async () => {
    const one = await load(['oci-layout-test_index_one_image.tar'], { nameForUnnamed: 'ggcr/one:1' });
    expect(one.images).toEqual([expect.objectContaining({ path: 'ggcr/one:1', status: 'pushed', digest: 'sha256:98ceaf93e482fe91b9bfd6bba07137c098e49ee2d55e69f09fb6c951e75e0e46' })]);
    const mt = await load(['oci-layout-test_index_media_type.tar'], { nameForUnnamed: 'ggcr/mt:1' });
    expect(mt.images).toEqual([expect.objectContaining({ path: 'ggcr/mt:1', status: 'pushed', digest: 'sha256:b544f71ecd82372bc9a3c0dbef378abfd2734fe437df81ff6e242a0d720d8e3e' })]);
  });

  test('bad inputs: null manifest.json and the legacy archive are errors naming the file', async () => {
    const report = await load(['null_manifest.tar', 'no_manifest.tar']);
    expect(report.images).toEqual([]);
    expect(report.errors).toEqual([
      { source: fixture('null_manifest.tar'), message: `${fixture('null_manifest.tar')}: manifest.json is null, expected a list of images: re-save the archive` },
      {
        source: fixture('no_manifest.tar'),
        message: `${fixture('no_manifest.tar')} is a legacy docker save archive (only 'repositories', no manifest.json): re-save it with Docker >= 1.10`,
      },
    ]);
  });
});
