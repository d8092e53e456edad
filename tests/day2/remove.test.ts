import { createRegistryClient, MEDIA_TYPES } from '../../src/images/remote/index.js';
import { listImages } from '../../src/day2/list.js';
import { planRemoval, removeImages, RemovalRefusedError } from '../../src/day2/remove.js';
import type { Catalog, ImageRow } from '../../src/day2/served.js';
import { startTestRegistry, type TestRegistry } from '../support/registry.js';
import { blob, pushImage, pushIndex } from './images.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

const catalog: Catalog = {
  'cdk/pause:3.9': { host: 'rocks.canonical.com:443', digest: d('1'), source: 'a.tar' },
  'library/nginx:latest': { host: 'docker.io', digest: d('2'), source: 'b.tar' },
  'library/nginx:1.27': { host: 'docker.io', digest: d('2'), source: 'b.tar' },
  'library/nginx:1.26': { host: 'docker.io', digest: d('3'), source: 'b.tar' },
  'coredns/coredns:1.11': { host: 'registry.k8s.io', digest: d('4'), source: 'c.tar' },
};

function refused(fn: () => unknown): RemovalRefusedError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RemovalRefusedError) return err;
    throw err;
  }
  throw new Error('expected a RemovalRefusedError');
}

describe('planRemoval', () => {
  test('original, short and registry-path forms resolve to the served tag', () => {
    const forms = ['rocks.canonical.com:443/cdk/pause:3.9', 'rocks.canonical.com/cdk/pause:3.9', 'cdk/pause:3.9'];
    for (const f of forms) {
      const plan = planRemoval([f], catalog);
      expect(plan.items).toEqual([{ input: f, path: 'cdk/pause:3.9', repository: 'cdk/pause', tag: '3.9', digest: d('1'), host: 'rocks.canonical.com:443' }]);
      expect(plan.deletes).toEqual([{ repository: 'cdk/pause', digest: d('1'), paths: ['cdk/pause:3.9'] }]);
    }
    expect(planRemoval(['nginx:1.26'], catalog).items.map((i) => i.path)).toEqual(['library/nginx:1.26']);
    expect(planRemoval(['docker.io/library/nginx:1.26'], catalog).items.map((i) => i.path)).toEqual(['library/nginx:1.26']);
    expect(planRemoval([`coredns/coredns@${d('4')}`], catalog).items.map((i) => i.path)).toEqual(['coredns/coredns:1.11']);
  });

  test('unknown references are refused together, with what is wrong with each', () => {
    const err = refused(() => planRemoval(['cdk/pause:3.8', 'quay.io/cdk/pause:3.9', 'Bad//ref', 'cdk/pause:3.9'], catalog));
    expect(err.unknown).toEqual([
      'cdk/pause:3.8',
      'quay.io/cdk/pause:3.9 (cdk/pause:3.9 was loaded from rocks.canonical.com:443, not quay.io; give the registry path cdk/pause:3.9 to remove it anyway)',
      expect.stringMatching(/^Bad\/\/ref \(invalid image reference/),
    ]);
    expect(err.message).toMatch(/^nothing was removed:\n {2}not served by this registry \(run list-images to see what is\): cdk\/pause:3\.8; quay\.io/);
    expect(() => planRemoval([' ', ''], catalog)).toThrow(/no image references given; name at least one/);
  });

  test('a tag sharing its digest with tags not named is refused, or taken along with withSharedTags', () => {
    const err = refused(() => planRemoval(['nginx'], catalog));
    expect(err.conflicts).toEqual([
      `library/nginx:latest shares digest ${d('2')} with library/nginx:1.27; the registry deletes by digest, so removing it removes those too: name them as well, or set with-shared-tags`,
    ]);
    const both = planRemoval(['nginx', 'nginx:1.27'], catalog);
    expect(both.deletes).toEqual([{ repository: 'library/nginx', digest: d('2'), paths: ['library/nginx:1.27', 'library/nginx:latest'] }]);
    const taken = planRemoval(['nginx'], catalog, { withSharedTags: true });
    expect(taken.items.map((i) => [i.path, i.implied ?? false])).toEqual([
      ['library/nginx:1.27', true],
      ['library/nginx:latest', false],
    ]);
    expect(taken.deletes).toHaveLength(1);
  });

  test('the same digest in another repository is not a conflict: deletes are per repository', () => {
    const cat: Catalog = { 'a/x:1': { host: 'docker.io', digest: d('5') }, 'b/x:1': { host: 'docker.io', digest: d('5') } };
    expect(planRemoval(['a/x:1'], cat).deletes).toEqual([{ repository: 'a/x', digest: d('5'), paths: ['a/x:1'] }]);
  });

  test('a platform manifest of a served index is refused', () => {
    const rows: ImageRow[] = [
      { path: 'cdk/pause:3.9', digest: d('a'), mediaType: MEDIA_TYPES.ociIndex, children: [d('b'), d('c')], size: 1 },
      { path: 'cdk/pause:3.9-amd64', digest: d('b'), mediaType: MEDIA_TYPES.ociManifest, size: 1 },
    ];
    const err = refused(() => planRemoval(['cdk/pause:3.9-amd64'], rows));
    expect(err.conflicts).toEqual(['cdk/pause:3.9-amd64 is also a platform of cdk/pause:3.9; removing it would break that multi-arch image: remove the index too']);
    expect(planRemoval(['cdk/pause:3.9-amd64', 'cdk/pause:3.9'], rows).deletes).toHaveLength(2);
    const byDigest = refused(() => planRemoval([`cdk/pause@${d('c')}`], rows));
    expect(byDigest.unknown).toEqual([`cdk/pause@${d('c')} (a platform manifest of cdk/pause:3.9: remove that image instead)`]);
  });
});

describe('removeImages against a real registry', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  test('dry run changes nothing; removal deletes by digest, updates the catalog, and the rest keeps serving', async () => {
    const client = createRegistryClient({ baseUrl: reg.url }, { retryBaseMs: 10 });
    try {
      const shared = blob(400);
      const a = await pushImage(client, 'cdk/a', '1', [shared, blob(100)]);
      await client.putManifest('cdk/a', 'also', MEDIA_TYPES.ociManifest, a.manifest);
      const b = await pushImage(client, 'cdk/a', '2', [shared, blob(120)]);
      const multi = await pushIndex(client, 'cdk/multi', '1', [
        { platform: { os: 'linux', architecture: 'amd64' }, layers: [shared] },
        { platform: { os: 'linux', architecture: 'arm64' }, layers: [blob(50)] },
      ]);
      const cat: Catalog = {
        'cdk/a:1': { host: 'rocks.canonical.com:443', digest: a.digest, source: 's' },
        'cdk/a:also': { host: 'rocks.canonical.com:443', digest: a.digest, source: 's' },
        'cdk/a:2': { host: 'rocks.canonical.com:443', digest: b.digest, source: 's' },
        'cdk/multi:1': { host: 'rocks.canonical.com:443', digest: multi.digest, source: 's' },
      };
      const rows = await listImages(client, cat);
      expect(() => planRemoval(['rocks.canonical.com/cdk/a:1'], rows)).toThrow(/shares digest .* with cdk\/a:also/);
      const plan = planRemoval(['rocks.canonical.com/cdk/a:1', 'cdk/multi:1'], rows, { withSharedTags: true });

      const logs: string[] = [];
      const dry = await removeImages(client, plan, { dryRun: true, catalog: cat, log: async (l) => void logs.push(l) });
      expect(dry.dryRun).toBe(true);
      expect(dry.removed.map((i) => i.path)).toEqual(['cdk/a:1', 'cdk/a:also', 'cdk/multi:1']);
      expect(dry.catalog).toEqual(cat);
      expect(await client.hasManifest('cdk/a', '1')).toBe(a.digest);
      expect(logs[0]).toBe(`would remove cdk/a:1, cdk/a:also (${a.digest})`);

      const done = await removeImages(client, plan, { catalog: cat });
      expect(done.deleted).toEqual([
        { repository: 'cdk/a', digest: a.digest },
        { repository: 'cdk/multi', digest: multi.digest },
      ]);
      expect(Object.keys(done.catalog)).toEqual(['cdk/a:2']);
      expect(await client.hasManifest('cdk/a', '1')).toBeNull();
      expect(await client.hasManifest('cdk/a', 'also')).toBeNull();
      expect(await client.hasManifest('cdk/multi', '1')).toBeNull();
      expect(await client.tags('cdk/a')).toEqual(['2']);
      // The other image and the shared blob stay until garbage-collect.
      expect(await client.hasManifest('cdk/a', '2')).toBe(b.digest);
      expect(await client.hasBlob('cdk/a', shared.digest)).toBe(400);

      // Running the same plan again: everything already gone, nothing deleted, no error.
      const again = await removeImages(client, plan, { catalog: done.catalog });
      expect(again.alreadyGone).toEqual(['cdk/a:1', 'cdk/a:also', 'cdk/multi:1']);
      expect(again.deleted).toEqual([]);
      expect(again.removed).toEqual([]);
    } finally {
      client.close();
    }
  });

  test('a tag moved to another digest since the plan stops the whole removal', async () => {
    const client = createRegistryClient({ baseUrl: reg.url }, { retryBaseMs: 10 });
    try {
      const one = await pushImage(client, 'race/x', '1', [blob(10)]);
      const other = await pushImage(client, 'race/y', 'keep', [blob(10)]);
      const plan = planRemoval(['race/y:keep', 'race/x:1'], await listImages(client, {}, { filter: 'race/*' }));
      const reloaded = await pushImage(client, 'race/x', '1', [blob(11)]);
      await expect(removeImages(client, plan)).rejects.toThrow(
        `nothing was removed: the registry changed since the listing (race/x:1 now points at ${reloaded.digest}, planned ${one.digest}); list the images again and retry`,
      );
      expect(await client.hasManifest('race/y', 'keep')).toBe(other.digest);
    } finally {
      client.close();
    }
  });
});
