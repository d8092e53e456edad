import { createRegistryClient, MEDIA_TYPES } from '../../src/images/remote/index.js';
import { formatBytes } from '../../src/format.js';
import { compileFilter, formatTable, listImages, platformOf, type ListClient } from '../../src/day2/list.js';
import type { ImageRow } from '../../src/day2/served.js';
import { startTestRegistry, type TestRegistry } from '../support/registry.js';
import { blob, pushImage, pushIndex, sha } from './images.js';

describe('list-images logic', () => {
  test('filter: substring, glob over path or reference, case-insensitive, empty matches all', () => {
    expect(compileFilter()('anything')).toBe(true);
    expect(compileFilter('  ')('x')).toBe(true);
    const sub = compileFilter('PAUSE');
    expect(sub('cdk/pause:3.9')).toBe(true);
    expect(sub('cdk/coredns:1.11', undefined)).toBe(false);
    const glob = compileFilter('cdk/*:3.?');
    expect(glob('cdk/pause:3.9')).toBe(true);
    expect(glob('cdk/pause:3.10')).toBe(false);
    expect(glob('library/nginx:3.9')).toBe(false);
    // A glob is anchored, so a host-qualified reference matches only a host-qualified pattern.
    const hostGlob = compileFilter('rocks.canonical.com*/cdk/*');
    expect(hostGlob('cdk/pause:3.9', 'rocks.canonical.com:443/cdk/pause:3.9')).toBe(true);
    expect(hostGlob('cdk/pause:3.9')).toBe(false);
    // Regex characters in a filter are literal.
    expect(compileFilter('a.b*')('axb:1')).toBe(false);
  });

  test('platforms: os/arch/variant, attestations and unknown left out', () => {
    expect(platformOf({ digest: 'd', size: 1, platform: { os: 'linux', architecture: 'arm', variant: 'v7' } })).toBe('linux/arm/v7');
    expect(platformOf({ digest: 'd', size: 1, platform: { os: 'linux', architecture: 'amd64' } })).toBe('linux/amd64');
    expect(platformOf({ digest: 'd', size: 1, platform: { os: 'unknown', architecture: 'unknown' } })).toBeNull();
    expect(
      platformOf({ digest: 'd', size: 1, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }),
    ).toBeNull();
  });

  test('formatBytes and a fixed-width table', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(formatTable([])).toBe('no images');
    const rows: ImageRow[] = [
      { path: 'cdk/pause:3.9', reference: 'rocks.canonical.com:443/cdk/pause:3.9', host: 'rocks.canonical.com:443', digest: `sha256:${'a'.repeat(64)}`, mediaType: MEDIA_TYPES.ociIndex, platforms: ['linux/amd64', 'linux/arm64'], size: 2048 },
      { path: 'library/nginx:1', digest: `sha256:${'b'.repeat(64)}`, mediaType: MEDIA_TYPES.dockerManifest, size: 10 },
    ];
    const lines = formatTable(rows).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^IMAGE\s+DIGEST\s+KIND\s+PLATFORMS\s+SIZE$/);
    expect(lines[1]).toMatch(/^rocks\.canonical\.com:443\/cdk\/pause:3\.9\s+aaaaaaaaaaaa\s+oci index\s+linux\/amd64,linux\/arm64\s+2\.0 KiB$/);
    expect(lines[2]).toMatch(/^library\/nginx:1\s+bbbbbbbbbbbb\s+docker image\s+-\s+10 B$/);
    // Columns line up: DIGEST starts at the same offset on every row.
    const col = lines[0].indexOf('DIGEST');
    expect(lines[1].slice(col, col + 12)).toBe('aaaaaaaaaaaa');
    expect(lines[2].slice(col, col + 12)).toBe('bbbbbbbbbbbb');
    expect(lines[3]).toBe('2 images, 2.0 KiB (blobs shared between images counted in each)');
  });

  test('in-memory registry: requests never exceed the concurrency, shared children fetched once, vanished tags skipped', async () => {
    const layer = { mediaType: 'l', digest: sha(Buffer.from('layer')), size: 100 };
    const child = Buffer.from(JSON.stringify({ mediaType: MEDIA_TYPES.ociManifest, config: { digest: sha(Buffer.from('c')), size: 10 }, layers: [layer] }));
    const index = Buffer.from(JSON.stringify({ mediaType: MEDIA_TYPES.ociIndex, manifests: [{ digest: sha(child), size: child.length, platform: { os: 'linux', architecture: 'amd64' } }] }));
    const tags = Array.from({ length: 40 }, (_, i) => `t${i}`);
    let inFlight = 0;
    let peak = 0;
    const gets: string[] = [];
    const logged: string[] = [];
    const client: ListClient = {
      catalog: async () => ['r'],
      tags: async () => [...tags, 'gone'],
      getManifest: async (repo, ref) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        gets.push(ref);
        await new Promise((r) => setTimeout(r, 2));
        inFlight--;
        if (ref === 'gone') return null;
        const bytes = ref === sha(child) ? child : index;
        return { bytes, mediaType: ref === sha(child) ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.ociIndex, digest: sha(bytes) };
      },
    };
    const rows = await listImages(client, {}, { concurrency: 5, log: async (l) => void logged.push(l) });
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThan(1);
    expect(rows).toHaveLength(40);
    expect(gets.filter((g) => g === sha(child))).toHaveLength(1);
    expect(rows[0].size).toBe(index.length + child.length + 10 + 100);
    expect(logged).toEqual(['r:gone: tag listed but its manifest is gone; skipped']);
    await expect(listImages(client, {}, { concurrency: 0 })).rejects.toThrow(/concurrency must be a positive integer/);
  });
});

describe('list-images against a real registry', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry();
  });
  afterAll(async () => {
    await reg?.stop();
  });

  test('rows: digest, kind, platforms, sizes with shared blobs counted once, host from the catalog, filter', async () => {
    const client = createRegistryClient({ baseUrl: reg.url }, { retryBaseMs: 10 });
    try {
      const base = blob(3000);
      const a = await pushImage(client, 'cdk/app', '1.0', [base, blob(1000)]);
      await client.putManifest('cdk/app', 'stable', MEDIA_TYPES.ociManifest, a.manifest);
      const multi = await pushIndex(client, 'cdk/pause', '3.9', [
        { platform: { os: 'linux', architecture: 'amd64' }, layers: [base, blob(500)] },
        { platform: { os: 'linux', architecture: 'arm', variant: 'v7' }, layers: [base, blob(700)] },
      ]);
      const catalog = { 'cdk/pause:3.9': { host: 'rocks.canonical.com:443', digest: multi.digest, source: 'pause.tar' } };

      const rows = await listImages(client, catalog);
      expect(rows.map((r) => r.path)).toEqual(['cdk/app:1.0', 'cdk/app:stable', 'cdk/pause:3.9']);
      const [app, stable, pause] = rows;
      expect(app).toEqual({ path: 'cdk/app:1.0', digest: a.digest, mediaType: MEDIA_TYPES.ociManifest, size: a.size });
      expect(stable.digest).toBe(a.digest);
      expect(pause).toEqual({
        path: 'cdk/pause:3.9',
        reference: 'rocks.canonical.com:443/cdk/pause:3.9',
        host: 'rocks.canonical.com:443',
        digest: multi.digest,
        mediaType: MEDIA_TYPES.ociIndex,
        platforms: ['linux/amd64', 'linux/arm/v7'],
        children: multi.children.map((c) => c.digest),
        size: multi.size,
      });
      // The shared base layer is in both children but counted once.
      expect(pause.size).toBe(multi.index.length + multi.children[0].manifest.length + multi.children[1].manifest.length + multi.children[0].config.size + multi.children[1].config.size + 3000 + 500 + 700);

      expect((await listImages(client, catalog, { filter: 'rocks.canonical.com*' })).map((r) => r.path)).toEqual(['cdk/pause:3.9']);
      expect((await listImages(client, catalog, { filter: 'stable' })).map((r) => r.path)).toEqual(['cdk/app:stable']);
      expect(await listImages(client, catalog, { filter: 'nothing-like-this' })).toEqual([]);
      expect(formatTable(rows)).toContain('linux/amd64,linux/arm/v7');
    } finally {
      client.close();
    }
  });

  test('an index whose child manifest was deleted reports the missing platform', async () => {
    const client = createRegistryClient({ baseUrl: reg.url }, { retryBaseMs: 10 });
    try {
      const multi = await pushIndex(client, 'partial/img', 'v1', [
        { platform: { os: 'linux', architecture: 'amd64' }, layers: [blob(200)] },
        { platform: { os: 'linux', architecture: 's390x' }, layers: [blob(300)] },
      ]);
      // The registry refuses an index with absent children, but lets a child be deleted under it.
      await client.deleteManifest('partial/img', multi.children[1].digest);
      const [row] = await listImages(client, {}, { filter: 'partial/*' });
      expect(row.platforms).toEqual(['linux/amd64']);
      expect(row.missingPlatforms).toEqual(['linux/s390x']);
      expect(row.size).toBe(multi.index.length + multi.children[0].size);
      expect(formatTable([row])).toContain('linux/amd64 (missing linux/s390x)');
    } finally {
      client.close();
    }
  });

  test('hundreds of tags are all listed (their speed is measured by npm run bench -- list)', async () => {
    const client = createRegistryClient({ baseUrl: reg.url }, { retryBaseMs: 10 });
    try {
      const img = await pushImage(client, 'bulk/one', 'seed', [blob(100)]);
      const repos = Array.from({ length: 10 }, (_, i) => `bulk/r${i}`);
      for (const repo of repos) for (const b of [img.config, ...img.layers]) await client.mountBlob(repo, b.digest, 'bulk/one');
      const tags = Array.from({ length: 300 }, (_, i) => ({ repo: repos[i % 10], tag: `v${i}` }));
      for (let i = 0; i < tags.length; i += 30) {
        await Promise.all(tags.slice(i, i + 30).map((t) => client.putManifest(t.repo, t.tag, MEDIA_TYPES.ociManifest, img.manifest)));
      }
      const rows = await listImages(client, {}, { filter: 'bulk/r*' });
      expect(rows).toHaveLength(300);
      expect(rows.every((r) => r.digest === img.digest && r.size === img.size)).toBe(true);
    } finally {
      client.close();
    }
  });
});
