// Canonical Kubernetes (the k8s charm): no registry relation, the operator pastes containerd-config's
// `k8s-custom-registries` into `juju config k8s containerd-custom-registries=...`. Here the action
// runs through dispatch, its value goes through the k8s charm's validator and hosts.d renderer
// (tests/relations/k8s-containerd.ts), and a real containerd using that hosts.d as config_path
// CRI-pulls by ORIGINAL references over TLS verified against the charm's CA alone, with and
// without auth. The mirrors follow the hosts loaded: an old release list (rocks.canonical.com:443/cdk)
// and a new one (ghcr.io/canonical/cdk) both check out once their images are loaded.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { writeBusyboxSave } from '../support/archives.js';
import { type Containerd, criPull, startContainerd } from '../support/containerd.js';
import { applyK8sCustomRegistries, parseK8sRegistries } from '../relations/k8s-containerd.js';
import { DEPLOY, loopbackState, newUnit, portsOf, runAll } from './charm-under-test.js';

const NAME = 'registry.test'; // resolves to 127.0.0.1 for containerd alone (private /etc/hosts)
const canRun = process.getuid?.() === 0 && fs.existsSync('/usr/bin/containerd');
if (!canRun) console.warn('Canonical Kubernetes tests skipped: they need root and Debian containerd');
const maybe = canRun ? describe : describe.skip;

const OLD_RELEASE = ['rocks.canonical.com:443/cdk/pause:3.10', 'registry.k8s.io/pause:3.10', 'docker.io/library/busybox:1.36'];
const NEW_RELEASE = ['ghcr.io/canonical/cdk/pause:3.10', 'ghcr.io/canonical/cdk/coredns/coredns:1.12.0', 'registry.k8s.io/pause:3.10'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-it-'));
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const results = (out: RunOutput) => out.action!.results as Record<string, any>;

/** What `juju run offline-registry/0 containerd-config --format=json | jq -r '.[].results."k8s-custom-registries"'` prints. */
async function k8sValue(sim: Simulator, state: RunOutput): Promise<string> {
  const out = await sim.run({ action: 'containerd-config' }, state);
  expect(out.action).toMatchObject({ status: 'completed' });
  const value = results(out)['k8s-custom-registries'];
  expect(typeof value).toBe('string');
  return value as string;
}

// An empty system trust store for containerd: only a hosts.toml `ca` can verify the registry.
function emptyTrust(): Record<string, string> {
  const dir = path.join(tmp, 'no-system-cas');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'empty.pem'), '');
  return { SSL_CERT_FILE: path.join(dir, 'empty.pem'), SSL_CERT_DIR: dir };
}

async function containerdWithHostsDir(hostsd: string): Promise<Containerd> {
  const configToml = `[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = ${JSON.stringify(hostsd)}\n`;
  const c = await startContainerd({ hosts: { [NAME]: '127.0.0.1' }, env: emptyTrust(), configToml });
  stops.push(() => c.stop());
  return c;
}

maybe('Canonical Kubernetes through containerd-config', () => {
  let sim: Simulator;
  let deployed: RunOutput;
  let withNew: RunOutput;
  let netloc: string;
  let password: string;
  let caPem: string;

  beforeAll(async () => {
    sim = await newUnit();
    stops.push(() => sim.cleanup());
    const images = path.join(tmp, 'old.tar');
    writeBusyboxSave(images, OLD_RELEASE);
    const base = await loopbackState({
      resources: { images },
      relations: [{ id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] }],
    });
    const state: State = { ...base, config: { ...base.config, tls: true, auth: true, 'http-host': NAME } };
    netloc = `${NAME}:${portsOf(state).port}`;
    deployed = await runAll(sim, DEPLOY, state);
    const creds = results(await sim.run({ action: 'get-credentials' }, deployed));
    password = creds.password;
    caPem = creds['ca-cert'];
  }, 120000);

  test('the old release list checks out and the value mirrors exactly the hosts loaded', async () => {
    const check = await sim.run({ action: 'check-images', params: { list: OLD_RELEASE.join('\n') } }, deployed);
    expect(results(check)).toMatchObject({ total: '3', 'present-count': '3', 'missing-count': '0' });
    const notYet = await sim.run({ action: 'check-images', params: { list: NEW_RELEASE.join('\n') } }, deployed);
    expect(results(notYet)).toMatchObject({ 'present-count': '1', 'missing-count': '2' });

    const value = JSON.parse(await k8sValue(sim, deployed));
    expect(value.map((e: any) => e.host)).toEqual([netloc, 'docker.io', 'registry.k8s.io', 'registry.k8s.io:443', 'rocks.canonical.com', 'rocks.canonical.com:443']);
    for (const e of value) {
      expect(e).toEqual({ host: e.host, url: `https://${netloc}`, ca_file: Buffer.from(caPem).toString('base64'), username: 'offline-registry', password });
    }
  });

  test('after loading the new release (ghcr.io/canonical/cdk) its list checks out and ghcr.io is mirrored', async () => {
    const archive = path.join(tmp, 'new.tar');
    writeBusyboxSave(archive, NEW_RELEASE.filter((r) => r.startsWith('ghcr.io/')));
    withNew = await sim.run({ action: 'load-images', params: { path: archive } }, deployed);
    expect(withNew.action).toMatchObject({ status: 'completed' });
    const check = await sim.run({ action: 'check-images', params: { list: NEW_RELEASE.join('\n') } }, withNew);
    expect(results(check)).toMatchObject({ total: '3', 'present-count': '3', 'missing-count': '0' });
    const old = await sim.run({ action: 'check-images', params: { list: OLD_RELEASE.join('\n') } }, withNew);
    expect(results(old)).toMatchObject({ 'present-count': '3' });
    const hosts = parseK8sRegistries(await k8sValue(sim, withNew)).map((r) => r.host);
    expect(hosts).toEqual(expect.arrayContaining(['ghcr.io', 'ghcr.io:443', 'rocks.canonical.com:443', 'docker.io']));
  });

  test('with auth: containerd on the rendered hosts.d pulls by original references, TLS against our CA only', async () => {
    const hostsd = path.join(tmp, 'hosts.d-auth');
    // A host the k8s charm does not manage: it goes.
    fs.mkdirSync(path.join(hostsd, 'quay.io'), { recursive: true });
    fs.writeFileSync(path.join(hostsd, 'quay.io', 'hosts.toml'), 'server = "https://quay.io"\n');
    const value = await k8sValue(sim, withNew);
    applyK8sCustomRegistries(value, hostsd);
    expect(fs.existsSync(path.join(hostsd, 'quay.io'))).toBe(false);
    expect(fs.readFileSync(path.join(hostsd, 'docker.io', 'ca.crt'), 'utf8')).toBe(caPem);

    const c = await containerdWithHostsDir(hostsd);
    for (const ref of [...OLD_RELEASE, ...NEW_RELEASE, 'busybox:1.36', 'rocks.canonical.com/cdk/pause:3.10', `${netloc}/canonical/cdk/pause:3.10`]) {
      expect({ ref, ...(await criPull(c, ref)) }).toMatchObject({ ref, ok: true });
    }
    expect(c.logs()).toContain(`https://${netloc}/v2/canonical/cdk/pause/manifests/3.10?ns=ghcr.io`);
    expect(c.logs()).toContain(`https://${netloc}/v2/library/busybox/manifests/1.36?ns=docker.io`);
    expect(c.logs()).not.toContain(password);
    expect(c.logs()).not.toContain(Buffer.from(`offline-registry:${password}`).toString('base64'));

    // Both checks are real: without the header the registry refuses, without the CA TLS fails.
    const entries = JSON.parse(value);
    applyK8sCustomRegistries(JSON.stringify(entries.map(({ username, password: _p, ...e }: any) => e)), hostsd);
    const anonymous = await criPull(c, 'ghcr.io/canonical/cdk/pause:3.10');
    expect(anonymous.ok).toBe(false);
    expect(anonymous.error).toMatch(/401 Unauthorized|unauthorized/i);
    applyK8sCustomRegistries(JSON.stringify(entries.map(({ ca_file, ...e }: any) => e)), hostsd);
    const untrusted = await criPull(c, 'ghcr.io/canonical/cdk/pause:3.10');
    expect(untrusted.ok).toBe(false);
    expect(untrusted.error).toMatch(/x509|certificate/);
    await c.stop();
  }, 180000);

  test('without auth: the value carries no credentials and containerd still pulls by original references', async () => {
    const noAuth = await sim.run('config-changed', { ...withNew, config: { ...withNew.config, auth: false } });
    expect(noAuth.exitCode).toBe(0);
    const value = await k8sValue(sim, noAuth);
    expect(value).not.toContain(password);
    for (const r of parseK8sRegistries(value)) expect(r.username ?? r.password).toBeUndefined();

    const hostsd = path.join(tmp, 'hosts.d-open');
    applyK8sCustomRegistries(value, hostsd);
    const c = await containerdWithHostsDir(hostsd);
    for (const ref of ['registry.k8s.io/pause:3.10', 'ghcr.io/canonical/cdk/coredns/coredns:1.12.0', 'docker.io/library/busybox:1.36', 'rocks.canonical.com:443/cdk/pause:3.10']) {
      expect({ ref, ...(await criPull(c, ref)) }).toMatchObject({ ref, ok: true });
    }
    expect(c.logs()).toContain(`https://${netloc}/v2/pause/manifests/3.10?ns=registry.k8s.io`);
    await c.stop();
  }, 120000);

  test('plain HTTP with auth: the k8s value still comes (header auth works over HTTP) and containerd pulls; only the standalone form is missing, saying why', async () => {
    const plain = await sim.run('config-changed', { ...withNew, config: { ...withNew.config, tls: false, auth: true } });
    expect(plain.exitCode).toBe(0);
    const out = await sim.run({ action: 'containerd-config' }, plain);
    expect(out.action).toMatchObject({ status: 'completed' });
    const r = results(out);
    expect(r['custom-registries-standalone']).toBeUndefined();
    expect(r['custom-registries-standalone-unavailable']).toBe('a plain-HTTP registry cannot pass credentials to containerd through custom_registries; enable TLS');
    const plainPassword = results(await sim.run({ action: 'get-credentials' }, plain)).password;
    const entries = parseK8sRegistries(r['k8s-custom-registries']);
    for (const e of entries) expect(e).toMatchObject({ url: `http://${netloc}`, username: 'offline-registry', password: plainPassword });

    const hostsd = path.join(tmp, 'hosts.d-plain');
    applyK8sCustomRegistries(r['k8s-custom-registries'], hostsd);
    const c = await containerdWithHostsDir(hostsd);
    expect({ ...(await criPull(c, 'registry.k8s.io/pause:3.10')) }).toMatchObject({ ok: true });
    expect(c.logs()).toContain(`http://${netloc}/v2/pause/manifests/3.10?ns=registry.k8s.io`);
    await c.stop();
  }, 120000);
});
