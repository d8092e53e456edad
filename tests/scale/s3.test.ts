// Several units on one shared S3 store (a real Ceph radosgw, tests/support/radosgw) through the
// packed charm's dispatch, each unit its own simulator and real registries (tests/harness/model).
// The units listen on their own loopback addresses (127.0.0.2, 127.0.0.3) with the same port and
// no http-host, as units on two machines would:
// - only the leader loads; the others adopt its catalog (status, relation data, containerd-config);
// - containerd-config's hosts.toml lists both units, and a real containerd fails over to unit 1;
// - an S3 outage is reported, not answered with restarts, and the units recover by themselves.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Model } from '../harness/model.js';
import type { RunOutput, State } from '../harness/index.js';
import { writeBusyboxSave } from '../support/archives.js';
import { criPull, startContainerd } from '../support/containerd.js';
import { freePort, freePortRun, waitFor } from '../support/ports.js';
import { type Radosgw, haveRadosgw, startRadosgw } from '../support/radosgw.js';
import { probe } from '../../src/registry/health.js';
import { decodeRelationValue } from '../../src/relations/docker-registry.js';
import { DEPLOY, cleanupUnits, unit } from '../integration/charm-under-test.js';

const APP = 'offline-registry';
const U0 = `${APP}/0`;
const U1 = `${APP}/1`;
const BUSYBOX = 'rocks.canonical.com:443/cdk/test/busybox:1.35';
const APP_IMAGE = 'docker.io/library/app:1';
const CREDS_ID = 'c2n2tt6v8kasajfo3be0';
const address: Record<string, string> = { [U0]: '127.0.0.2', [U1]: '127.0.0.3' };

if (!haveRadosgw()) console.warn('skipping the shared-store scale tests: install radosgw, ceph-mon and ceph-osd (.ci/run does)');
const withRadosgw = haveRadosgw() ? test : test.skip;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scale-s3-'));
const stops: Array<() => Promise<void>> = [];
let gw: Radosgw | undefined;
const model = new Model({ app: APP, peerEndpoint: 'registry-peers' });
let port: number;
const writerPorts: Record<string, number> = {};
let resource: string;

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await cleanupUnits();
  await gw?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function unitState(name: string, leader: boolean): Promise<State> {
  writerPorts[name] = await freePort();
  return {
    leader,
    apt: { available: ['docker-registry', 'nodejs'] },
    addresses: { ingress: address[name] },
    // Juju gives every unit the same resource; only the leader loads it into the shared store.
    resources: { images: resource },
    secrets: [{ id: CREDS_ID, owner: 'remote', revisions: [{ 'access-key': gw!.accessKey, 'secret-key': gw!.secretKey }] }],
    config: {
      port,
      // Both "machines" share this one's 127.0.0.1: the loopback ports differ per unit.
      'writer-port': writerPorts[name],
      'metrics-port': await freePortRun([port, ...Object.values(writerPorts)]),
      'bind-address': address[name],
      'storage-backend': 's3',
      's3-bucket': 'scale-images',
      's3-region': 'us-east-1',
      's3-endpoint': gw!.endpoint,
      's3-credentials': `secret:${CREDS_ID}`,
    },
    relations: [{ id: 2, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] }],
  };
}

const stateOf = (u: string) => model.state(u) as RunOutput;
const relationData = (u: string) => stateOf(u).relations.find((r) => r.endpoint === 'docker-registry')!.localUnitData;
const mirrorsOf = (u: string) => decodeRelationValue(relationData(u).mirrors) as string[];
const catalogOf = (u: string) => JSON.parse(fs.readFileSync(path.join(model.sim(u).rootDir, 'var/lib/offline-registry/catalog.json'), 'utf8')) as Record<string, { digest: string }>;
const publicUrl = (u: string) => `https://${address[u]}:${port}`;
const writerUrl = (u: string) => `http://127.0.0.1:${writerPorts[u]}`;
const restarts = (out: RunOutput) => out.thisRun.systemctlCalls.filter((argv) => argv.includes('restart'));

beforeAll(async () => {
  if (!haveRadosgw()) return;
  gw = await startRadosgw();
  gw.createBucket('scale-images');
  port = await freePort();
  resource = path.join(tmp, 'images.tar');
  writeBusyboxSave(resource, [BUSYBOX, APP_IMAGE]);

  model.add(U0, await unit(), await unitState(U0, true));
  await model.runAll(U0, DEPLOY);
  await model.join(U0);
  model.add(U1, await unit(), await unitState(U1, false));
  await model.runAll(U1, DEPLOY);
  await model.join(U1);
  await model.settle();
}, 400000);

withRadosgw('a non-leader on s3 adopts the leader\'s catalog: status, relation mirrors, containerd-config; a removal reaches it', async () => {
  expect(fs.existsSync(path.join(model.sim(U0).rootDir, 'var/lib/offline-registry/catalog.json'))).toBe(true);
  expect(Object.keys(catalogOf(U0)).sort()).toEqual(['cdk/test/busybox:1.35', 'library/app:1']);
  expect(catalogOf(U1)).toEqual(Object.fromEntries(Object.entries(catalogOf(U0)).map(([ref, e]) => [ref, { ...e, source: expect.any(String) }])));
  // The bytes are in the bucket, counted by no unit: no size rather than "0 B".
  expect(stateOf(U1).unitStatus).toEqual({ status: 'active', message: `Serving 2 images at ${publicUrl(U1)} (shared S3 store: the leader loads images)` });
  expect(stateOf(U0).unitStatus).toEqual({ status: 'active', message: `Serving 2 images at ${publicUrl(U0)}` });
  expect(stateOf(U1).statusHistory.some((s) => /Loading images/.test(s.message))).toBe(false);

  const mirrors = ['docker.io', 'rocks.canonical.com', 'rocks.canonical.com:443'];
  expect(mirrorsOf(U1)).toEqual(mirrors);
  expect(decodeRelationValue(relationData(U1).registry_netloc)).toBe(`${address[U1]}:${port}`);
  const config = await model.run(U1, { action: 'containerd-config' });
  expect(config.action?.status).toBe('completed');
  expect((config.action!.results as Record<string, string>).mirrors).toBe(mirrors.join(' '));
  const listed = await model.run(U1, { action: 'list-images' });
  expect(listed.action).toMatchObject({ status: 'completed', results: { count: '2' } });

  // remove-images runs on the leader (one store); the removal reaches unit 1's catalog and data.
  const removed = await model.run(U0, { action: 'remove-images', params: { images: APP_IMAGE } });
  expect(removed.action?.status).toBe('completed');
  await model.settle();
  expect(Object.keys(catalogOf(U1))).toEqual(['cdk/test/busybox:1.35']);
  expect(stateOf(U1).unitStatus.message).toBe(`Serving 1 images at ${publicUrl(U1)} (shared S3 store: the leader loads images)`);
  expect(mirrorsOf(U1)).toEqual(['rocks.canonical.com', 'rocks.canonical.com:443']);
  const after = await model.run(U1, { action: 'containerd-config' });
  expect((after.action!.results as Record<string, string>).mirrors).toBe('rocks.canonical.com rocks.canonical.com:443');
}, 300000);

withRadosgw('a leader change keeps the shared catalog: the new leader\'s adopted copy is the truth', async () => {
  const before = JSON.parse(model.applicationBag.catalog);
  expect(Object.keys(before.images)).toEqual(['cdk/test/busybox:1.35']);
  expect(Object.keys(before.removed)).toEqual(['library/app:1']);
  await model.elect(U1);
  await model.run(U1, 'config-changed');
  await model.settle();
  expect(JSON.parse(model.applicationBag.catalog)).toEqual(before);
  expect(Object.keys(catalogOf(U0))).toEqual(['cdk/test/busybox:1.35']);
  expect(stateOf(U1).unitStatus.message).toBe(`Serving 1 images at ${publicUrl(U1)}`);
  // Juju tells the old leader nothing right away: its next update-status says what it is now.
  const old = await model.run(U0, 'update-status');
  expect(old.unitStatus.message).toBe(`Serving 1 images at ${publicUrl(U0)} (shared S3 store: the leader loads images)`);
  // Back to unit 0 for the tests below (it does not matter to them, but keeps them readable).
  await model.elect(U0);
  await model.settle();
  expect(JSON.parse(model.applicationBag.catalog)).toEqual(before);
}, 120000);

const canRunContainerd = process.getuid?.() === 0 && fs.existsSync('/usr/bin/containerd');
(haveRadosgw() && canRunContainerd ? test : test.skip)('containerd-config on unit 1 lists both units in hosts.toml; with unit 0 stopped containerd pulls through unit 1', async () => {
  const out = await model.run(U1, { action: 'containerd-config' });
  expect(out.action?.status).toBe('completed');
  const results = out.action!.results as Record<string, any>;
  // Unit order, the same from every unit: unit 0 first.
  const endpoints = [`${address[U0]}:${port}`, `${address[U1]}:${port}`];
  expect(results['hosts-toml-endpoints']).toBe(endpoints.join(' '));
  expect(results['hosts-toml-notes']).toBeUndefined();
  const fromUnit0 = (await model.run(U0, { action: 'containerd-config' })).action!.results as Record<string, any>;
  expect(fromUnit0['hosts-toml']).toEqual(results['hosts-toml']);
  // custom_registries stays one entry per host (the containerd charm refuses duplicates).
  expect(JSON.parse(results['custom-registries'])).toEqual([
    { host: 'rocks.canonical.com', url: endpoints[1] },
    { host: 'rocks.canonical.com:443', url: endpoints[1] },
  ]);

  const hostsDir = path.join(tmp, 'certs.d');
  for (const entry of Object.values(results['hosts-toml'] as Record<string, { host: string; 'hosts-toml': string }>)) {
    const text = entry['hosts-toml'];
    expect(text.indexOf(`[host."https://${endpoints[0]}"]`)).toBeGreaterThan(0);
    expect(text.indexOf(`[host."https://${endpoints[1]}"]`)).toBeGreaterThan(text.indexOf(`[host."https://${endpoints[0]}"]`));
    const dir = path.join(hostsDir, entry.host);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'hosts.toml'), text.replaceAll('/etc/containerd/certs.d', hostsDir));
    fs.writeFileSync(path.join(dir, results['ca-file-name']), results['ca-cert']);
  }

  const stop = model.sim(U0).systemctl('stop', 'offline-registry-public.service');
  expect(stop.code).toBe(0);
  expect((await probe(publicUrl(U0))).ok).toBe(false);
  // Only the hosts.toml `ca` can verify the registries: an empty system trust store.
  const noCas = path.join(tmp, 'no-system-cas');
  fs.mkdirSync(noCas, { recursive: true });
  fs.writeFileSync(path.join(noCas, 'empty.pem'), '');
  const configToml = `[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ${JSON.stringify(hostsDir)}\n`;
  const c = await startContainerd({ env: { SSL_CERT_FILE: path.join(noCas, 'empty.pem'), SSL_CERT_DIR: noCas }, configToml });
  stops.push(() => c.stop());
  const pulled = await criPull(c, BUSYBOX);
  expect(pulled).toEqual({ ok: true, imageRef: expect.stringMatching(/^sha256:/) });
  // Unit 0 was tried first and refused the connection; unit 1 served the pull.
  expect(c.logs()).toContain('trying next host');
  expect(c.logs()).toContain(`https://${endpoints[0]}/v2/cdk/test/busybox/manifests/1.35`);
  expect(c.logs()).toContain(`https://${endpoints[1]}/v2/cdk/test/busybox/manifests/1.35?ns=rocks.canonical.com%3A443`);
  await c.stop();

  // update-status finds unit 0's public registry down (a dead process, not a store problem) and restarts it.
  const status = await model.run(U0, 'update-status');
  expect(restarts(status)).toEqual([['systemctl', 'restart', 'offline-registry-public.service']]);
  expect((await probe(publicUrl(U0))).ok).toBe(true);
}, 240000);

withRadosgw('S3 stopped: the units say so and are not restarted; S3 back: active again by itself', async () => {
  await gw!.stopGateway();
  // distribution's storage health check fails threshold (3) checks 10 s apart, then answers 503.
  for (const u of [U0, U1]) {
    await waitFor(async () => (await probe(publicUrl(u))).storageUnhealthy === true, 120000, `${u}'s public registry to report its store unhealthy`);
  }
  const down = await probe(publicUrl(U0));
  expect(down).toEqual({ ok: false, status: 503, detail: 'GET /v2/ answered 503 (health check failed: please see /debug/health)', storageUnhealthy: true });

  const problem = new RegExp(
    `^S3 store unreachable at ${gw!.endpoint.replaceAll('.', '\\.')}: s3aws: RequestError: send request failed: caused by: Get .*connection refused; images are not served until it is back$`,
  );
  for (const u of [U0, U1]) {
    // Twice: update-status every few minutes must not become a restart loop.
    for (let i = 0; i < 2; i++) {
      const out = await model.run(u, 'update-status');
      expect(out.unitStatus).toEqual({ status: 'blocked', message: expect.stringMatching(problem) });
      expect(restarts(out)).toEqual([]);
    }
  }
  const said = JSON.stringify([stateOf(U0).logs, stateOf(U0).statusHistory]);
  expect(said).not.toContain(gw!.secretKey);

  await gw!.startGateway();
  for (const u of [U0, U1]) {
    for (const url of [publicUrl(u), writerUrl(u)]) await waitFor(async () => (await probe(url)).ok, 60000, `${url} to answer again`);
  }
  for (const u of [U0, U1]) {
    const out = await model.run(u, 'update-status');
    expect(out.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(new RegExp(`^Serving 1 images at ${publicUrl(u).replaceAll('.', '\\.')}`)) });
    expect(restarts(out)).toEqual([]);
  }
}, 300000);
