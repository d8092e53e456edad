// The docker-registry relation as Charmed Kubernetes' containerd charm consumes it: relation data
// read back and decoded the reactive way, rendered into containerd 1.6's config the charm's way,
// then real CRI pulls (as kubelet does) by the registry netloc and by ORIGINAL references.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { decodeRelationValue } from '../../src/relations/docker-registry.js';
import { parseCustomRegistries, renderContainerdRegistryConfig } from '../../src/relations/containerd-toml.js';
import { writeBusyboxSave } from '../support/archives.js';
import { type Containerd, criPull, ctrPull, startContainerd } from '../support/containerd.js';
import { DEPLOY, loopbackState, newUnit, portsOf, runAll } from './charm-under-test.js';

const NAME = 'registry.test'; // resolves to 127.0.0.1 for containerd alone (private /etc/hosts)
const canRun = process.getuid?.() === 0 && fs.existsSync('/usr/bin/containerd');
if (!canRun) console.warn('relation tests skipped: they need root and Debian containerd');
const maybe = canRun ? describe : describe.skip;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relation-it-'));
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
});


maybe('the docker-registry relation with containerd', () => {
  let sim: Simulator;
  let related: RunOutput;
  let port: number;
  let netloc: string;
  let creds: Record<string, string>;
  let nodeTls: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    sim = await newUnit();
    stops.push(() => sim.cleanup());
    const images = path.join(tmp, 'images.tar');
    writeBusyboxSave(images, ['rocks.canonical.com:443/cdk/test/busybox:1.35', 'busybox:1.36']);
    const base = await loopbackState({
      resources: { images },
      relations: [
        { id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] },
        { id: 5, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] },
        { id: 6, endpoint: 'docker-registry', remoteApp: 'containerd-gpu', remoteUnits: ['containerd-gpu/0'] },
      ],
    });
    const state: State = { ...base, config: { ...base.config, tls: true, auth: true, 'http-host': NAME } };
    port = portsOf(state).port;
    netloc = `${NAME}:${port}`;
    let out = await runAll(sim, DEPLOY, state);
    for (const hook of ['docker-registry-relation-created', 'docker-registry-relation-joined', 'docker-registry-relation-changed']) {
      out = await sim.run(hook, out, { relation: 5, ...(hook.endsWith('created') ? {} : { remoteUnit: 'containerd/0' }) });
      expect(out.exitCode).toBe(0);
    }
    related = out;
    const action = await sim.run({ action: 'get-credentials' }, related);
    creds = action.action!.results as Record<string, string>;
    // The Kubernetes node's own CA and server cert: the containerd charm presents them as client cert.
    const node = path.join(tmp, 'node');
    fs.mkdirSync(node);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(node, 'server.key'), '-out', path.join(node, 'server.crt'), '-days', '2', '-subj', '/CN=node-0'], { stdio: 'ignore' });
    nodeTls = { ca: path.join(node, 'server.crt'), cert: path.join(node, 'server.crt'), key: path.join(node, 'server.key') };
  }, 120000);

  test('the unit bag holds JSON-encoded endpoint, credentials, CA and mirrors, decoded as the reactive requirer does', () => {
    const bag = related.relations.find((r) => r.id === 5)!.localUnitData;
    const data = Object.fromEntries(Object.entries(bag).map(([k, v]) => [k, decodeRelationValue(v)]));
    expect(data.registry_netloc).toBe(netloc);
    expect(data.registry_url).toBe(`https://${netloc}`);
    expect(data.basic_user).toBe('offline-registry');
    expect(data.basic_password).toBe(creds.password);
    expect(data.tls_ca).toBe(creds['ca-cert']);
    expect(data.mirrors).toEqual(['docker.io', 'rocks.canonical.com', 'rocks.canonical.com:443']);
    const custom = JSON.parse(data.custom_registries as string);
    expect(custom).toEqual([
      { host: 'docker.io', url: netloc },
      { host: 'rocks.canonical.com', url: netloc },
      { host: 'rocks.canonical.com:443', url: netloc },
    ]);
    // Several related applications at once: the other one got the same data.
    expect(related.relations.find((r) => r.id === 6)!.localUnitData).toEqual(bag);
  });

  test('containerd with the relation entry and our custom_registries pulls by netloc and by ORIGINAL references', async () => {
    const bag = related.relations.find((r) => r.id === 5)!.localUnitData;
    const customRegistries = decodeRelationValue(bag.custom_registries) as string;
    const configToml = renderContainerdRegistryConfig(customRegistries, { relationData: bag, nodeTls, configDirectory: path.join(tmp, 'etc-containerd') });
    expect(() => parseToml(`version = 2\n${configToml}`)).not.toThrow(); // several mirrors + auth: no duplicate table
    // install_ca_cert: the registry CA in the system pool, for the containerd process alone.
    const pool = path.join(tmp, 'pool.crt');
    fs.writeFileSync(pool, creds['ca-cert']);
    const c: Containerd = await startContainerd({ hosts: { [NAME]: '127.0.0.1' }, env: { SSL_CERT_FILE: pool }, configToml });
    stops.push(() => c.stop());
    for (const ref of [`${netloc}/cdk/test/busybox:1.35`, 'rocks.canonical.com:443/cdk/test/busybox:1.35', 'rocks.canonical.com/cdk/test/busybox:1.35', 'docker.io/library/busybox:1.36', 'busybox:1.36']) {
      const pulled = await criPull(c, ref);
      expect({ ref, ...pulled }).toMatchObject({ ref, ok: true });
    }
    expect(c.logs()).toContain(`https://${netloc}/v2/cdk/test/busybox/manifests/1.35?ns=rocks.canonical.com%3A443`);
    expect(c.logs()).not.toContain(creds.password);
    await c.stop();
  }, 120000);

  test('containerd-config: the standalone custom_registries (no relation) and the hosts.toml files work too', async () => {
    const out = await sim.run({ action: 'containerd-config' }, related);
    expect(out.action?.status).toBe('completed');
    const results = out.action!.results as Record<string, any>;
    expect(JSON.parse(results['custom-registries'])).toEqual(JSON.parse(JSON.parse(related.relations.find((r) => r.id === 5)!.localUnitData.custom_registries)));

    const etc = path.join(tmp, 'etc-standalone');
    const standalone = results['custom-registries-standalone'] as string;
    const entries = JSON.parse(standalone);
    expect(entries[0]).toMatchObject({ url: netloc, username: 'offline-registry', password: creds.password });
    expect(Buffer.from(entries[0].ca_file, 'base64').toString()).toBe(creds['ca-cert']);
    // The charm writes each ca_file where its config points.
    for (const r of parseCustomRegistries(standalone, etc)) {
      const src = entries.find((e: any) => (e.host ?? e.url) === r.host);
      if (r.ca && src?.ca_file) {
        fs.mkdirSync(path.dirname(r.ca), { recursive: true });
        fs.writeFileSync(r.ca, Buffer.from(src.ca_file, 'base64'));
      }
    }
    const configToml = renderContainerdRegistryConfig(standalone, { configDirectory: etc });
    expect(() => parseToml(`version = 2\n${configToml}`)).not.toThrow();
    const c = await startContainerd({ hosts: { [NAME]: '127.0.0.1' }, configToml });
    stops.push(() => c.stop());
    for (const ref of ['rocks.canonical.com:443/cdk/test/busybox:1.35', 'docker.io/library/busybox:1.36']) {
      expect({ ref, ...(await criPull(c, ref)) }).toMatchObject({ ref, ok: true });
    }

    // hosts.toml for config_path users, checked with ctr --hosts-dir.
    const hostsDir = path.join(tmp, 'certs.d');
    for (const entry of Object.values(results['hosts-toml'] as Record<string, { host: string; 'hosts-toml': string }>)) {
      const dir = path.join(hostsDir, entry.host);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'hosts.toml'), entry['hosts-toml'].replaceAll('/etc/containerd/certs.d', hostsDir));
      fs.writeFileSync(path.join(dir, results['ca-file-name']), results['ca-cert']);
      expect(() => parseToml(entry['hosts-toml'])).not.toThrow();
    }
    const pulled = await ctrPull(c, 'rocks.canonical.com/cdk/test/busybox:1.35', { hostsDir, user: `offline-registry:${creds.password}` });
    expect(pulled.ok).toBe(true);
    await c.stop();
  }, 120000);

  test('departed and broken leave the unit healthy and the other relation current', async () => {
    const departed = await sim.run('docker-registry-relation-departed', related, { relation: 5, remoteUnit: 'containerd/0' });
    expect(departed.exitCode).toBe(0);
    const broken = await sim.run('docker-registry-relation-broken', departed, { relation: 5 });
    expect(broken.exitCode).toBe(0);
    expect(broken.unitStatus.status).toBe('active');
    expect(broken.relations.map((r) => r.id).sort()).toEqual([1, 6]);
    const after = await sim.run('config-changed', { ...broken, config: { ...broken.config, 'tls-sans': 'extra.example' } });
    expect(after.unitStatus.status).toBe('active');
    expect(decodeRelationValue(after.relations.find((r) => r.id === 6)!.localUnitData.registry_netloc)).toBe(netloc);
  }, 60000);
});
