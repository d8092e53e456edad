import { createRegistryClient } from '../../src/images/remote/index.js';
import { checkImages, parseImageList } from '../../src/day2/check.js';
import { listImages } from '../../src/day2/list.js';
import type { Catalog } from '../../src/day2/served.js';
import { startTestRegistry } from '../support/registry.js';
import { blob, pushImage, pushIndex } from './images.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe('parseImageList', () => {
  test('one per line, inline lists, comments and blank lines, duplicates once', () => {
    const text = [
      '# Charmed Kubernetes v1.31 images',
      'rocks.canonical.com/cdk/pause:3.9',
      '',
      '   rocks.canonical.com/cdk/coredns/coredns:v1.11.1   # trailing comment',
      'rocks.canonical.com/cdk/a:1 rocks.canonical.com/cdk/b:2,rocks.canonical.com/cdk/c:3',
      'rocks.canonical.com/cdk/pause:3.9',
      '\tnginx@sha256:' + 'f'.repeat(64) + '\r',
    ].join('\n');
    expect(parseImageList(text)).toEqual([
      'rocks.canonical.com/cdk/pause:3.9',
      'rocks.canonical.com/cdk/coredns/coredns:v1.11.1',
      'rocks.canonical.com/cdk/a:1',
      'rocks.canonical.com/cdk/b:2',
      'rocks.canonical.com/cdk/c:3',
      `nginx@sha256:${'f'.repeat(64)}`,
    ]);
    expect(parseImageList('# only a comment\n\n')).toEqual([]);
  });

  test('entries that are not references are refused with their line numbers', () => {
    expect(() => parseImageList('rocks.canonical.com/cdk/pause:3.9\nrocks.canonical.com/CDK/Pause:3.9\nok:1 bad::tag')).toThrow(
      /^the image list has entries that are not image references \(fix or remove them\):\n {2}line 2: invalid image reference "rocks\.canonical\.com\/CDK\/Pause:3\.9": repository names must be lowercase\n {2}line 3: invalid image reference "bad::tag"/,
    );
  });
});

describe('checkImages', () => {
  const catalog: Catalog = {
    'cdk/pause:3.9': { host: 'rocks.canonical.com:443', digest: d('1'), source: 'x' },
    'cdk/coredns/coredns:v1.11.0': { host: 'rocks.canonical.com:443', digest: d('2'), source: 'x' },
    'cdk/coredns/coredns:v1.10.1': { host: 'rocks.canonical.com:443', digest: d('3'), source: 'x' },
    'library/nginx:1.27': { host: 'docker.io', digest: d('4'), source: 'x' },
  };
  const mirrors = ['rocks.canonical.com:443', 'docker.io'];

  test('present, present under other tags, missing; default port spellings are one host', () => {
    const refs = [
      'rocks.canonical.com/cdk/pause:3.9',
      'rocks.canonical.com:443/cdk/pause:3.9',
      'rocks.canonical.com/cdk/coredns/coredns:v1.11.1',
      'rocks.canonical.com/cdk/metrics-server:0.7',
      'quay.io/cdk/pause:3.9',
      'nginx:1.27',
      `nginx@${d('4')}`,
      `nginx@${d('9')}`,
    ];
    const r = checkImages(refs, catalog, mirrors);
    expect(r.present).toEqual([
      { reference: 'rocks.canonical.com/cdk/pause:3.9', path: 'cdk/pause:3.9', digest: d('1') },
      { reference: 'rocks.canonical.com:443/cdk/pause:3.9', path: 'cdk/pause:3.9', digest: d('1') },
      { reference: 'nginx:1.27', path: 'library/nginx:1.27', digest: d('4') },
      { reference: `nginx@${d('4')}`, path: `library/nginx@${d('4')}`, digest: d('4') },
    ]);
    expect(r.otherTag).toEqual([{ reference: 'rocks.canonical.com/cdk/coredns/coredns:v1.11.1', available: ['v1.10.1', 'v1.11.0'] }]);
    expect(r.missing).toEqual([
      {
        reference: 'rocks.canonical.com/cdk/metrics-server:0.7',
        path: 'cdk/metrics-server:0.7',
        reason: 'cdk/metrics-server:0.7 is not in the registry; load an archive holding rocks.canonical.com/cdk/metrics-server:0.7',
      },
      {
        reference: 'quay.io/cdk/pause:3.9',
        path: 'cdk/pause:3.9',
        reason: 'host quay.io is not mirrored by this registry (mirrored: docker.io, rocks.canonical.com:443); add it to the mirrored hosts',
      },
      { reference: `nginx@${d('9')}`, path: `library/nginx@${d('9')}`, reason: expect.stringMatching(/is not in the registry/) },
    ]);
  });

  test('an empty list is an error that says what to give', () => {
    expect(() => checkImages([], catalog, mirrors)).toThrow(/^the image list is empty: give the release list/);
    expect(() => checkImages(parseImageList('# nothing\n'), catalog, mirrors)).toThrow(/^the image list is empty: /);
  });
});

test('checkImages over rows listed from a real registry, a child platform digest counted as served', async () => {
  const reg = await startTestRegistry();
  const client = createRegistryClient({ baseUrl: reg.url }, { retryBaseMs: 10 });
  try {
    await pushImage(client, 'cdk/pause', '3.9', [blob(100)]);
    const multi = await pushIndex(client, 'cdk/coredns/coredns', 'v1.11.1', [
      { platform: { os: 'linux', architecture: 'amd64' }, layers: [blob(50)] },
      { platform: { os: 'linux', architecture: 'arm64' }, layers: [blob(60)] },
    ]);
    const rows = await listImages(client, {});
    const list = parseImageList(
      `rocks.canonical.com/cdk/pause:3.9\nrocks.canonical.com/cdk/pause:3.10\nrocks.canonical.com/cdk/coredns/coredns@${multi.children[1].digest}\n`,
    );
    const r = checkImages(list, rows, ['rocks.canonical.com']);
    expect(r.present.map((p) => p.reference)).toEqual(['rocks.canonical.com/cdk/pause:3.9', `rocks.canonical.com/cdk/coredns/coredns@${multi.children[1].digest}`]);
    expect(r.otherTag).toEqual([{ reference: 'rocks.canonical.com/cdk/pause:3.10', available: ['3.9'] }]);
    expect(r.missing).toEqual([]);
  } finally {
    client.close();
    await reg.stop();
  }
});
