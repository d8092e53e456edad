// Several units through the packed charm's dispatch: each unit its own simulator (own root, own
// real registries), the peer relation, app secrets and leadership shared by tests/harness/model.
// The units listen on their own loopback addresses (127.0.0.2, 127.0.0.3) with the same port, as
// units on two machines would; `http-host` is one name for all of them, which a real containerd
// resolves to both addresses.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Model } from '../harness/model.js';
import type { RunOutput, State } from '../harness/index.js';
import { writeBusyboxSave, writeDockerSave } from '../support/archives.js';
import { criPull, startContainerd } from '../support/containerd.js';
import { tarLayer, writeOciLayout } from '../support/oci.js';
import { freePort } from '../support/ports.js';
import { createRegistryClient } from '../../src/images/remote/index.js';
import { decodeRelationValue } from '../../src/relations/docker-registry.js';
import { renderContainerdRegistryConfig } from '../../src/relations/containerd-toml.js';
import { createCa, issueServerCert } from '../../src/tls/index.js';
import { DEPLOY, cleanupUnits, unit } from '../integration/charm-under-test.js';

const APP = 'offline-registry';
const U0 = `${APP}/0`;
const U1 = `${APP}/1`;
const NAME = 'registry.test';
const BUSYBOX = 'rocks.canonical.com:443/cdk/test/busybox:1.35';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scale-'));
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const model = new Model({ app: APP, peerEndpoint: 'registry-peers' });
let port: number;
const writerPorts: Record<string, number> = {};
const address: Record<string, string> = { [U0]: '127.0.0.2', [U1]: '127.0.0.3' };
let resource: string;
let layout: string;
let extra: string;

async function unitState(name: string, leader: boolean): Promise<State> {
  writerPorts[name] = await freePort();
  return {
    leader,
    apt: { available: ['docker-registry', 'nodejs'] },
    addresses: { ingress: address[name] },
    resources: { images: resource },
    // Same port on every unit (one name for clients); the writer port differs only because both
    // "machines" share this one's loopback 127.0.0.1.
    config: { port, 'writer-port': writerPorts[name], 'bind-address': address[name], 'http-host': NAME },
    relations: [{ id: 2, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] }],
  };
}

/** What a unit's writer holds: path:tag -> manifest digest, for the given tags. */
async function held(name: string, tags: string[]): Promise<Record<string, string | null>> {
  const client = createRegistryClient({ baseUrl: `http://127.0.0.1:${writerPorts[name]}` });
  try {
    const out: Record<string, string | null> = {};
    for (const t of tags) {
      const colon = t.lastIndexOf(':');
      out[t] = await client.hasManifest(t.slice(0, colon), t.slice(colon + 1));
    }
    return out;
  } finally {
    client.close();
  }
}

const wanted = () => JSON.parse(model.applicationBag.catalog ?? '{"images":{}}') as { images: Record<string, { digest: string }>; removed: Record<string, string> };

beforeAll(async () => {
  port = await freePort();
  resource = path.join(tmp, 'images.tar');
  writeBusyboxSave(resource, [BUSYBOX, 'docker.io/library/app:1']);
  const base = tarLayer({ 'bin/busybox': fs.readFileSync('/bin/busybox') }, tmp);
  layout = path.join(tmp, 'layout');
  writeOciLayout(layout, 'registry.k8s.io/multi/app:1.0', [
    { architecture: 'amd64', layers: [base, tarLayer({ 'etc/arch': 'amd64' }, tmp)] },
    { architecture: 'arm64', layers: [base, tarLayer({ 'etc/arch': 'arm64' }, tmp)] },
  ]);
  extra = path.join(tmp, 'extra.tar');
  await writeDockerSave(extra, [{ tags: ['quay.io/extra/thing:2'], layers: [{ seed: `extra-${crypto.randomUUID()}`, size: 300_000 }] }]);

  model.add(U0, await unit(), await unitState(U0, true));
  await model.runAll(U0, DEPLOY);
  await model.join(U0);
  const loaded = await model.run(U0, { action: 'load-images', params: { path: layout } });
  expect(loaded.action?.status).toBe('completed');
  await model.settle();
});

const ALL = [BUSYBOX.replace('rocks.canonical.com:443/', ''), 'library/app:1', 'multi/app:1.0'];

test('a new unit loads the resource itself, copies the rest from unit 0, and never serves a tag before its blobs', async () => {
  expect(Object.keys(wanted().images).sort()).toEqual([...ALL].sort());
  model.add(U1, await unit(), await unitState(U1, false));
  await model.runAll(U1, DEPLOY);
  await model.join(U1);
  await model.settle();

  const on0 = await held(U0, ALL);
  expect(await held(U1, ALL)).toEqual(on0);
  expect(Object.values(on0).every((d) => d?.startsWith('sha256:'))).toBe(true);

  const u1 = model.state(U1) as RunOutput;
  const history = u1.statusHistory.filter((s) => s.target === 'unit').map((s) => `${s.status}: ${s.message}`);
  expect(history).toContainEqual(expect.stringMatching(/^waiting: syncing [0-2]\/3 images from offline-registry\/0$/));
  expect(u1.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(/^Serving 3 images .* at https:\/\/registry\.test:\d+$/) });

  // The writer's request log, in order: the index's tag is put only after every blob and child
  // manifest of it, so the public instance (same storage) never had a half-copied tag to serve.
  const log = model.sim(U1).unitLog('offline-registry-writer').split('\n');
  const requests = log
    .map((l) => /http\.request\.method=(\w+).*?http\.request\.uri="?([^" ]+)/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[2]}`);
  const tagPut = requests.findIndex((r) => r === 'PUT /v2/multi/app/manifests/1.0');
  expect(tagPut).toBeGreaterThan(0);
  const blobPuts = requests.map((r, i) => [r, i] as const).filter(([r]) => /^PUT \/v2\/multi\/app\/blobs\/uploads\//.test(r));
  const childPuts = requests.map((r, i) => [r, i] as const).filter(([r]) => /^PUT \/v2\/multi\/app\/manifests\/sha256:/.test(r));
  expect(childPuts).toHaveLength(2);
  expect(blobPuts.length).toBeGreaterThanOrEqual(3);
  for (const [, i] of [...blobPuts, ...childPuts]) expect(i).toBeLessThan(tagPut);
});

test('images loaded by action on a non-leader reach the leader', async () => {
  const out = await model.run(U1, { action: 'load-images', params: { path: extra } });
  expect(out.action?.status).toBe('completed');
  await model.settle();
  const ref = 'extra/thing:2';
  expect(wanted().images[ref]).toBeDefined();
  const on1 = await held(U1, [ref]);
  expect(on1[ref]).toMatch(/^sha256:/);
  expect(await held(U0, [ref])).toEqual(on1);
});

test('a removal on a non-leader propagates, and the resource does not bring it back', async () => {
  const out = await model.run(U1, { action: 'remove-images', params: { images: 'docker.io/library/app:1' } });
  expect(out.action?.status).toBe('completed');
  await model.settle();
  expect(await held(U0, ['library/app:1'])).toEqual({ 'library/app:1': null });
  expect(wanted().images['library/app:1']).toBeUndefined();
  expect(wanted().removed['library/app:1']).toMatch(/^sha256:/);
  // A new revision of the resource (same images) loads again on upgrade-charm: the image it brings
  // back is removed again, the operator's removal stands.
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(resource, later, later);
  const upgraded = await model.run(U0, 'upgrade-charm');
  expect(upgraded.thisRun.logs.map((l) => l.message)).toContainEqual(expect.stringMatching(/^images resource images\.tar: /));
  await model.settle();
  expect(await held(U0, ['library/app:1'])).toEqual({ 'library/app:1': null });
  expect(await held(U1, ['library/app:1'])).toEqual({ 'library/app:1': null });
});

test('a leader change keeps the CA, the http.secret and the catalog', async () => {
  const before = { bag: model.applicationBag, secrets: model.secrets };
  const httpSecret = (u: string) => fs.readFileSync(path.join(model.sim(u).rootDir, 'etc/offline-registry/http-secret'), 'utf8');
  const caOn = (u: string) => fs.readFileSync(path.join(model.sim(u).rootDir, 'etc/offline-registry/tls/ca.crt'), 'utf8');
  expect(httpSecret(U1)).toBe(httpSecret(U0));
  expect(caOn(U1)).toBe(caOn(U0));
  const secret0 = httpSecret(U0);

  await model.elect(U1);
  await model.run(U1, 'config-changed');
  await model.settle();
  expect(model.leader).toBe(U1);
  expect(model.secrets).toEqual(before.secrets);
  expect(model.applicationBag['ca-cert']).toBe(before.bag['ca-cert']);
  expect(model.applicationBag['http-secret-id']).toBe(before.bag['http-secret-id']);
  expect(JSON.parse(model.applicationBag.catalog).images).toEqual(JSON.parse(before.bag.catalog).images);
  expect(httpSecret(U0)).toBe(secret0);
  expect(httpSecret(U1)).toBe(secret0);
  expect(caOn(U1)).toBe(caOn(U0));
});

test('with http-host, containerd-config\'s hosts.toml keeps the one shared name', async () => {
  const out = await model.run(U1, { action: 'containerd-config' });
  expect(out.action?.status).toBe('completed');
  const results = out.action!.results as Record<string, any>;
  expect(results['hosts-toml-endpoints']).toBe(`${NAME}:${port}`);
  for (const entry of Object.values(results['hosts-toml'] as Record<string, { 'hosts-toml': string }>)) {
    expect(entry['hosts-toml'].match(/^\[host\./gm)).toEqual([`[host.`]);
    expect(entry['hosts-toml']).toContain(`[host."https://${NAME}:${port}"]`);
  }
});

const canRunContainerd = process.getuid?.() === 0 && fs.existsSync('/usr/bin/containerd');
(canRunContainerd ? test : test.skip)('unit 0 stopped: containerd, configured from unit 0\'s relation data, still pulls through the shared name', async () => {
  // The containerd charm reads the lowest-numbered unit's data (charms.reactive joins every unit's
  // bag, lowest unit last, so it wins): with http-host every unit publishes the same name.
  const rel = (model.state(U0) as RunOutput).relations.find((r) => r.endpoint === 'docker-registry')!;
  const relationData = rel.localUnitData;
  expect(decodeRelationValue(relationData.registry_netloc)).toBe(`${NAME}:${port}`);
  expect(decodeRelationValue((model.state(U1) as RunOutput).relations.find((r) => r.endpoint === 'docker-registry')!.localUnitData.registry_netloc)).toBe(`${NAME}:${port}`);

  const nodeCa = await createCa({ commonName: 'kubernetes node CA' });
  const node = await issueServerCert(nodeCa, { commonName: 'node-0', dnsNames: ['node-0'], ipAddresses: [] });
  const write = (n: string, c: string) => (fs.writeFileSync(path.join(tmp, n), c, { mode: 0o600 }), path.join(tmp, n));
  const nodeTls = { ca: write('node-ca.crt', nodeCa.cert), cert: write('node.crt', node.cert), key: write('node.key', node.key) };
  const systemPool = write('ca-certificates.crt', decodeRelationValue(relationData.tls_ca) as string);
  const configToml = renderContainerdRegistryConfig(decodeRelationValue(relationData.custom_registries) as string, { relationData, nodeTls });

  const stop = model.sim(U0).systemctl('stop', 'offline-registry-public.service');
  expect(stop.code).toBe(0);
  expect(model.sim(U0).unit('offline-registry-public')?.pid ?? null).toBeNull();

  const c = await startContainerd({ hosts: { [NAME]: [address[U0], address[U1]] }, env: { SSL_CERT_FILE: systemPool }, configToml });
  stops.push(() => c.stop());
  const pulled = await criPull(c, BUSYBOX);
  expect(pulled).toEqual({ ok: true, imageRef: expect.stringMatching(/^sha256:/) });
  expect(c.logs()).toContain(`https://${NAME}:${port}/v2/cdk/test/busybox/manifests/1.35?ns=rocks.canonical.com%3A443`);
});
