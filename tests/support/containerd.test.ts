// Real containerd 1.6 pulling from a real docker-registry on loopback: the hosts.toml path (ctr),
// the CRI path kubelet uses (legacy registry.mirrors tables), plain HTTP and TLS with a private CA.
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { execa } from 'execa';
import { containerdConfig, criPull, ctrPull, hostsFileContent, startContainerd, type Containerd } from './containerd.js';
import { waitFor } from './ports.js';
import { startConfiguredRegistry, startTestRegistry, type TestRegistry } from './registry.js';
import { BUSYBOX_REPO, BUSYBOX_TAG, pushBusybox } from './busybox-image.js';

const REPO = BUSYBOX_REPO;
const TAG = BUSYBOX_TAG;
const CRI = 'plugins."io.containerd.grpc.v1.cri".registry';



async function imageNames(c: Containerd, namespace: string): Promise<string[]> {
  const r = await execa('ctr', ['--address', c.socket, '--namespace', namespace, 'images', 'ls', '-q'], { timeout: 10000 });
  return r.stdout.split('\n').filter(Boolean);
}

/** A CA and a server certificate for DNS name `name`, made with the openssl CLI. */
async function makeCerts(dir: string, name: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => path.join(dir, n);
  const run = (args: string[]) => execa('openssl', args, { cwd: dir, timeout: 30000 });
  await run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=offline-registry test CA']);
  await run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${name}`]);
  fs.writeFileSync(f('ext.cnf'), `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth\n`);
  await run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  fs.chmodSync(f('server.key'), 0o600);
  fs.chmodSync(f('ca.key'), 0o600);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
}

/** docker-registry with TLS on 127.0.0.1, serving the storage of another (plain) test registry. */
async function startTlsRegistry(dataDir: string, tls: { ca: string; cert: string; key: string }, name: string, auth?: Record<string, unknown>) {
  const registry = await startConfiguredRegistry({ dataDir, config: () => ({ http: { tls: { certificate: tls.cert, key: tls.key } }, auth }) });
  const ca = fs.readFileSync(tls.ca);
  const port = registry.port;
  const probe = () =>
    new Promise<boolean>((resolve) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/v2/', servername: name, ca, timeout: 2000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401); // 401: htpasswd auth on
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  try {
    await waitFor(probe, 10000, `TLS docker-registry on 127.0.0.1:${port}`);
  } catch (err) {
    await registry.stop();
    throw err;
  }
  return registry;
}

describe('containerd config and hosts file (pure)', () => {
  test('config keeps root, state and socket under the temp dir and uses the native snapshotter', () => {
    const toml = containerdConfig('/tmp/ctrd-x', '[extra]\n  k = 1');
    expect(toml).toContain('root = "/tmp/ctrd-x/root"');
    expect(toml).toContain('state = "/tmp/ctrd-x/state"');
    expect(toml).toMatch(/\[grpc\]\n {2}address = "\/tmp\/ctrd-x\/containerd.sock"/);
    expect(toml.match(/snapshotter = "native"/g)).toHaveLength(2);
    expect(toml).toContain('conf_dir = "/tmp/ctrd-x/cni/conf"');
    expect(toml.trimEnd().endsWith('[extra]\n  k = 1')).toBe(true);
  });

  test('hosts file keeps the base lines and adds the names', () => {
    expect(hostsFileContent('127.0.0.1 localhost', { 'registry.test': '127.0.0.1' })).toBe('127.0.0.1 localhost\n127.0.0.1 registry.test\n');
    expect(() => hostsFileContent('', { 'bad name': '127.0.0.1' })).toThrow(/invalid host name/);
  });
});

describe('real containerd 1.6 pulling from a real registry', () => {
  let registry: TestRegistry;
  let manifestDigest: string;
  let imageId: string;
  const started: Containerd[] = [];
  const start = async (opts: Parameters<typeof startContainerd>[0]) => {
    const c = await startContainerd(opts);
    started.push(c);
    return c;
  };
  const tmpDirs: string[] = [];
  const tmpDir = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-test-'));
    tmpDirs.push(d);
    return d;
  };

  beforeAll(async () => {
    registry = await startTestRegistry();
    ({ manifestDigest, imageId } = await pushBusybox(registry.url));
  });

  afterAll(async () => {
    for (const c of started) await c.stop();
    await registry?.stop();
    for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('(a) ctr pulls an upstream reference through a hosts.toml mirror, and fails without it', async () => {
    const c = await start({});
    const ref = `rocks.canonical.com:443/${REPO}:${TAG}`;

    // No network here: the upstream lookup must fail, and quickly.
    const t0 = Date.now();
    const direct = await ctrPull(c, ref, { timeoutMs: 30000 });
    expect(direct.ok).toBe(false);
    expect(direct.output).toContain('https://rocks.canonical.com:443/v2/');
    expect(Date.now() - t0).toBeLessThan(35000);

    const hostsDir = tmpDir();
    fs.mkdirSync(path.join(hostsDir, 'rocks.canonical.com:443'));
    fs.writeFileSync(
      path.join(hostsDir, 'rocks.canonical.com:443', 'hosts.toml'),
      `server = "https://rocks.canonical.com:443"\n\n[host."http://${registry.host}"]\n  capabilities = ["pull", "resolve"]\n`,
    );
    const pulled = await ctrPull(c, ref, { hostsDir });
    expect(pulled).toMatchObject({ ok: true });
    expect(pulled.output).toContain(manifestDigest);
    expect(await imageNames(c, 'default')).toContain(ref);
  });

  test('(b) CRI pulls a scheme-less loopback reference over plain HTTP', async () => {
    const c = await start({});
    const ref = `${registry.host}/${REPO}:${TAG}`;
    const r = await criPull(c, ref);
    expect(r).toEqual({ ok: true, imageRef: imageId });
    expect(await imageNames(c, 'k8s.io')).toContain(ref);
  });

  test('(b2) a scheme-less endpoint on a non-loopback name means https: a plain HTTP registry fails', async () => {
    const netloc = `registry.test:${registry.port}`;
    const c = await start({ hosts: { 'registry.test': '127.0.0.1' }, configToml: `[${CRI}.mirrors."${netloc}"]\n  endpoint = ["${netloc}"]` });
    const r = await criPull(c, `${netloc}/${REPO}:${TAG}`);
    expect(r.ok).toBe(false);
    expect(r.error).toContain(`Head "https://${netloc}/v2/${REPO}/manifests/${TAG}": http: server gave HTTP response to HTTPS client`);
  });

  test('(c) CRI pulls over TLS from a scheme-less endpoint (as the containerd charm renders it), direct and as a mirror', async () => {
    const dir = tmpDir();
    const name = 'registry.test';
    const certs = await makeCerts(dir, name);
    const tlsRegistry = await startTlsRegistry(registry.dataDir, certs, name);
    try {
      const netloc = `${name}:${tlsRegistry.port}`;
      const c = await start({
        hosts: { [name]: '127.0.0.1' },
        env: { SSL_CERT_FILE: certs.ca },
        configToml: [
          `[${CRI}.mirrors."${netloc}"]`,
          `  endpoint = ["${netloc}"]`,
          `[${CRI}.mirrors."rocks.canonical.com:443"]`,
          `  endpoint = ["${netloc}"]`,
        ].join('\n'),
      });
      const direct = await criPull(c, `${netloc}/${REPO}:${TAG}`);
      expect(direct).toEqual({ ok: true, imageRef: imageId });
      const mirrored = await criPull(c, `rocks.canonical.com:443/${REPO}:${TAG}`);
      expect(mirrored).toEqual({ ok: true, imageRef: imageId });
      expect(c.logs()).toContain(`https://${netloc}/v2/${REPO}/manifests/${TAG}?ns=rocks.canonical.com%3A443`);

      // Control: the same containerd setup without the CA bundle must refuse the certificate,
      // so the trust above came from SSL_CERT_FILE alone.
      const untrusting = await start({ hosts: { [name]: '127.0.0.1' }, configToml: `[${CRI}.mirrors."${netloc}"]\n  endpoint = ["${netloc}"]` });
      const refused = await criPull(untrusting, `${netloc}/${REPO}:${TAG}`);
      expect(refused.ok).toBe(false);
      expect(refused.error).toMatch(/x509: certificate signed by unknown authority/);
    } finally {
      await tlsRegistry.stop();
    }
  });

  test('(d) CRI pulls with basic auth from legacy configs keyed by the netloc, not by an https:// URL', async () => {
    const dir = tmpDir();
    const name = 'registry.test';
    const certs = await makeCerts(dir, name);
    const htpasswd = path.join(dir, 'htpasswd');
    fs.writeFileSync(htpasswd, `charm:${bcrypt.hashSync('s3cret-pw', 10)}\n`, { mode: 0o600 });
    const tlsRegistry = await startTlsRegistry(registry.dataDir, certs, name, { htpasswd: { realm: 'test', path: htpasswd } });
    try {
      const netloc = `${name}:${tlsRegistry.port}`;
      const mirrors = [
        `[${CRI}.mirrors."${netloc}"]`,
        `  endpoint = ["${netloc}"]`,
        `[${CRI}.mirrors."rocks.canonical.com:443"]`,
        `  endpoint = ["${netloc}"]`,
      ];
      const auth = (key: string) => [`[${CRI}.configs."${key}".auth]`, '  username = "charm"', '  password = "s3cret-pw"'];
      const base = { hosts: { [name]: '127.0.0.1' }, env: { SSL_CERT_FILE: certs.ca } };

      const byNetloc = await start({ ...base, configToml: [...mirrors, ...auth(netloc)].join('\n') });
      expect(await criPull(byNetloc, `rocks.canonical.com:443/${REPO}:${TAG}`)).toEqual({ ok: true, imageRef: imageId });
      expect(byNetloc.logs()).not.toContain('s3cret-pw');

      // The containerd charm's pitfall: a url with a scheme renders a configs key that never matches.
      const byUrl = await start({ ...base, configToml: [...mirrors, ...auth(`https://${netloc}`)].join('\n') });
      const refused = await criPull(byUrl, `${netloc}/${REPO}:${TAG}`);
      expect(refused.ok).toBe(false);
      expect(refused.error).toContain('401 Unauthorized');
      // kubelet's image pull secret path: credentials in the CRI request itself.
      expect(await criPull(byUrl, `${netloc}/${REPO}:${TAG}`, { username: 'charm', password: 's3cret-pw' })).toEqual({ ok: true, imageRef: imageId });
    } finally {
      await tlsRegistry.stop();
    }
  });

  test('a CRI config containerd 1.6 rejects (mirrors with config_path) fails startup with the reason', async () => {
    const hostsDir = tmpDir();
    await expect(
      start({ configToml: `[${CRI}]\n  config_path = "${hostsDir}"\n[${CRI}.mirrors."${registry.host}"]\n  endpoint = ["http://${registry.host}"]` }),
    ).rejects.toThrow(/CRI plugin did not load[\s\S]*`mirrors` cannot be set when `config_path` is provided/);
  });
});
