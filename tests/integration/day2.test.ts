// Day-2 actions through the packed charm's dispatch with the real registry and containerd: list,
// check against a release list, remove, garbage-collect (a multi-arch index survives), audit.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator } from '../harness/index.js';
import { writeDockerSave } from '../support/archives.js';
import { ctrPull, startContainerd } from '../support/containerd.js';
import { tarLayer, writeOciLayout } from '../support/oci.js';
import { freePort } from '../support/ports.js';
import { DEPLOY, loopbackState, newUnit, portsOf, runAll } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'day2-it-'));
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(tmp, { recursive: true, force: true });
});

let sim: Simulator;
let loaded: RunOutput;
let port: number;
let indexDigest: string;

const results = (out: RunOutput) => out.action!.results as Record<string, any>;

beforeAll(async () => {
  sim = await newUnit();
  cleanups.push(() => sim.cleanup());
  const state = await loopbackState();
  port = portsOf(state).port;
  const deployed = await runAll(sim, DEPLOY, state);

  // A two-platform index whose base layer (busybox) is shared with a docker-save image.
  const base = tarLayer({ 'bin/busybox': fs.readFileSync('/bin/busybox') }, tmp);
  const layout = path.join(tmp, 'layout');
  ({ indexDigest } = writeOciLayout(layout, 'registry.k8s.io/multi/app:1.0', [
    { architecture: 'amd64', layers: [base, tarLayer({ 'etc/arch': 'amd64' }, tmp)] },
    { architecture: 'arm64', layers: [base, tarLayer({ 'etc/arch': 'arm64' }, tmp)] },
  ]));
  const save = path.join(tmp, 'save');
  fs.mkdirSync(path.join(save, 'base'), { recursive: true });
  fs.mkdirSync(path.join(save, 'own'), { recursive: true });
  fs.writeFileSync(path.join(save, 'base/layer.tar'), base);
  const own = tarLayer({ 'etc/sharer': crypto.randomBytes(200_000) }, tmp);
  fs.writeFileSync(path.join(save, 'own/layer.tar'), own);
  const diff = (b: Buffer) => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diff(base), diff(own)] } }));
  fs.writeFileSync(path.join(save, 'config.json'), config);
  fs.writeFileSync(path.join(save, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['docker.io/library/sharer:1'], Layers: ['base/layer.tar', 'own/layer.tar'] }]));
  const other = path.join(tmp, 'other.tar');
  await writeDockerSave(other, [{ tags: ['rocks.canonical.com:443/cdk/pause:3.9'], layers: [{ seed: 'pause', size: 50_000 }] }]);

  let out = deployed;
  for (const p of [layout, save, other]) {
    out = await sim.run({ action: 'load-images', params: { path: p } }, out);
    expect(out.action?.status).toBe('completed');
  }
  loaded = out;
}, 120000);

test('status counts the images and bytes served', () => {
  expect(loaded.unitStatus.message).toMatch(new RegExp(`^Serving 3 images \\((\\d+(\\.\\d)?) [KM]iB\\) at http://127\\.0\\.0\\.1:${port}`));
});

test('list-images shows every tag with digest, platforms, size and upstream host; filter narrows it', async () => {
  const out = await sim.run({ action: 'list-images' }, loaded);
  expect(out.action?.status).toBe('completed');
  const r = results(out);
  expect(r.count).toBe('3');
  const rows = Object.values(r.images as Record<string, any>);
  const multi = rows.find((row) => row.path === 'multi/app:1.0');
  expect(multi).toMatchObject({ digest: indexDigest, platforms: 'linux/amd64 linux/arm64', host: 'registry.k8s.io', reference: 'registry.k8s.io/multi/app:1.0' });
  expect(Number(multi.size)).toBeGreaterThan(fs.statSync('/bin/busybox').size);
  expect(out.action!.logs.join('\n')).toContain('multi/app:1.0');

  const filtered = await sim.run({ action: 'list-images', params: { filter: 'cdk/*' } }, loaded);
  expect(Object.values(results(filtered).images as Record<string, any>).map((row) => row.path)).toEqual(['cdk/pause:3.9']);
});

test('check-images reports present, missing and present under another tag; bad lists fail clearly', async () => {
  const list = 'rocks.canonical.com/cdk/pause:3.9\nregistry.k8s.io/multi/app:2.0\n# comment\ndocker.io/library/absent:1\n';
  const file = path.join(tmp, 'v1.31.0.txt');
  fs.writeFileSync(file, list);
  const out = await sim.run({ action: 'check-images', params: { list: file } }, loaded);
  expect(out.action?.status).toBe('completed');
  expect(results(out)).toMatchObject({ total: '3', 'present-count': '1', 'missing-count': '1', 'other-tag-count': '1', present: 'rocks.canonical.com/cdk/pause:3.9', missing: 'docker.io/library/absent:1' });
  expect(results(out)['other-tag']['1']).toEqual({ reference: 'registry.k8s.io/multi/app:2.0', available: expect.stringContaining('1.0') });

  const inline = await sim.run({ action: 'check-images', params: { list: 'registry.k8s.io/multi/app:1.0 docker.io/library/sharer:1' } }, loaded);
  expect(results(inline)).toMatchObject({ 'present-count': '2', 'missing-count': '0' });

  const fromResource = await sim.run({ action: 'check-images' }, { ...loaded, resources: { 'image-list': file } });
  expect(results(fromResource)).toMatchObject({ total: '3', 'missing-count': '1' });

  const unreadable = await sim.run({ action: 'check-images', params: { list: path.join(tmp, 'nope.txt') } }, loaded);
  expect(unreadable.action).toMatchObject({ status: 'failed', message: expect.stringContaining('cannot read the image list') });
  const emptyFile = path.join(tmp, 'empty.txt');
  fs.writeFileSync(emptyFile, '# nothing\n\n');
  const empty = await sim.run({ action: 'check-images', params: { list: emptyFile } }, loaded);
  expect(empty.action).toMatchObject({ status: 'failed', message: expect.stringContaining('the image list is empty') });
  const none = await sim.run({ action: 'check-images' }, loaded);
  expect(none.action).toMatchObject({ status: 'failed', message: expect.stringContaining('image-list resource') });
});

test('remove-images refuses unknown references, dry-runs, removes; garbage-collect keeps the multi-arch index pullable', async () => {
  const unknown = await sim.run({ action: 'remove-images', params: { images: 'docker.io/library/sharer:1 quay.io/nope/nope:1' } }, loaded);
  expect(unknown.action).toMatchObject({ status: 'failed', message: expect.stringContaining('quay.io/nope/nope:1') });
  expect((await fetch(`http://127.0.0.1:${port}/v2/library/sharer/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).status).toBe(200);

  const dry = await sim.run({ action: 'remove-images', params: { images: 'sharer:1', 'dry-run': true } }, loaded);
  expect(results(dry)).toMatchObject({ 'dry-run': 'true', removed: 'library/sharer:1' });
  expect((await fetch(`http://127.0.0.1:${port}/v2/library/sharer/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).status).toBe(200);

  const removed = await sim.run({ action: 'remove-images', params: { images: 'sharer:1' } }, loaded);
  expect(removed.action?.status).toBe('completed');
  expect(results(removed)).toMatchObject({ removed: 'library/sharer:1', count: '1' });
  expect((await fetch(`http://127.0.0.1:${port}/v2/library/sharer/manifests/1`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).status).toBe(404);
  expect(removed.unitStatus.message).toMatch(/^Serving 2 images/);

  // The public instance keeps answering while the writer is stopped for the collection.
  let publicDown = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200, () => false);
      if (!ok) publicDown++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const gc = await sim.run({ action: 'garbage-collect' }, removed);
  polling = false;
  await poller;
  expect(gc.action?.status).toBe('completed');
  expect(publicDown).toBe(0);
  expect(Number(results(gc)['blobs-removed'])).toBeGreaterThanOrEqual(2); // sharer's own layer and config
  expect(Number(results(gc)['bytes-freed'])).toBeGreaterThan(200_000);
  expect(gc.thisRun.systemctlCalls).toEqual(expect.arrayContaining([['systemctl', 'stop', 'offline-registry-writer.service'], ['systemctl', 'restart', 'offline-registry-writer.service']]));

  const hostsDir = path.join(tmp, 'certs.d');
  fs.mkdirSync(path.join(hostsDir, 'registry.k8s.io'), { recursive: true });
  fs.writeFileSync(path.join(hostsDir, 'registry.k8s.io/hosts.toml'), `server = "https://registry.k8s.io"\n[host."http://127.0.0.1:${port}"]\n  capabilities = ["pull", "resolve"]\n`);
  const containerd = await startContainerd({ requireCri: false });
  cleanups.push(() => containerd.stop());
  for (const platform of ['linux/amd64', 'linux/arm64']) {
    const pulled = await ctrPull(containerd, 'registry.k8s.io/multi/app:1.0', { hostsDir, platform });
    expect({ platform, ok: pulled.ok }).toEqual({ platform, ok: true });
  }
}, 120000);

/** A Kubernetes API server on 127.0.0.1 answering the list calls the audit makes. */
async function fakeApiServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const list = (kind: string, items: unknown[]) => ({ kind, apiVersion: 'v1', metadata: { resourceVersion: '1' }, items });
  const pod = (ns: string, name: string, images: string[], waiting?: string) => ({
    metadata: { namespace: ns, name },
    spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) },
    status: waiting ? { containerStatuses: [{ name: 'c0', image: images[0], state: { waiting: { reason: waiting, message: `Back-off pulling image "${images[0]}"` } } }] } : {},
  });
  const routes: Record<string, unknown> = {
    '/api/v1/pods': list('PodList', [pod('kube-system', 'pause', ['rocks.canonical.com:443/cdk/pause:3.9']), pod('default', 'web', ['nginx:1.27'], 'ImagePullBackOff')]),
    '/apis/apps/v1/deployments': list('DeploymentList', [{ metadata: { namespace: 'default', name: 'multi' }, spec: { template: { spec: { containers: [{ name: 'a', image: 'registry.k8s.io/multi/app:1.0' }] } } } }]),
    '/apis/apps/v1/daemonsets': list('DaemonSetList', []),
    '/apis/apps/v1/statefulsets': list('StatefulSetList', []),
    '/apis/batch/v1/jobs': list('JobList', []),
    '/apis/batch/v1/cronjobs': list('CronJobList', []),
  };
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url ?? '/', 'http://x').pathname];
    res.writeHead(route ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify(route ?? { kind: 'Status', code: 404 }));
  });
  const p = await freePort();
  await new Promise<void>((r) => server.listen(p, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${p}`, close: () => new Promise((r) => server.close(() => r())) };
}

function kubeconfig(server: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "' + server + '"}}]',
    'users: [{name: u, user: {token: secret-token-never-logged}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n');
}

test('audit-cluster reports what the cluster uses that this registry cannot serve, and failing pulls', async () => {
  const api = await fakeApiServer();
  cleanups.push(api.close);
  const file = path.join(tmp, 'kubeconfig');
  fs.writeFileSync(file, kubeconfig(api.url), { mode: 0o600 });
  const out = await sim.run({ action: 'audit-cluster', params: { kubeconfig: file } }, loaded);
  expect(out.action).toMatchObject({ status: 'completed', message: '' });
  const r = results(out);
  expect(r['images-in-use']).toBe('3');
  expect(r['not-servable-count']).toBe('1');
  expect(r['not-servable']['1']).toMatchObject({ image: 'nginx:1.27' });
  expect(r['pull-failures']['1']).toMatchObject({ pod: 'default/web', reason: 'ImagePullBackOff' });
  expect(JSON.stringify(out.action)).not.toContain('secret-token-never-logged');

  // The kubeconfig from config (base64) works the same.
  const viaConfig = await sim.run({ action: 'audit-cluster' }, { ...loaded, config: { ...loaded.config, kubeconfig: Buffer.from(kubeconfig(api.url)).toString('base64') } });
  expect(results(viaConfig)['not-servable-count']).toBe('1');

  const notYaml = path.join(tmp, 'bad-kubeconfig');
  fs.writeFileSync(notYaml, '{{{ not yaml: [');
  const bad = await sim.run({ action: 'audit-cluster', params: { kubeconfig: notYaml } }, loaded);
  expect(bad.action).toMatchObject({ status: 'failed', message: expect.stringMatching(/kubeconfig/) });

  const closed = await freePort();
  fs.writeFileSync(file, kubeconfig(`http://127.0.0.1:${closed}`));
  const started = Date.now();
  const down = await sim.run({ action: 'audit-cluster', params: { kubeconfig: file } }, loaded);
  expect(down.action).toMatchObject({ status: 'failed', message: expect.stringContaining(`127.0.0.1:${closed}`) });
  expect(Date.now() - started).toBeLessThan(20000);

  const none = await sim.run({ action: 'audit-cluster' }, loaded);
  expect(none.action).toMatchObject({ status: 'failed', message: expect.stringContaining('no kubeconfig') });
}, 90000);
