// The whole relation for real: our CA + server cert + htpasswd on a real docker-registry, our
// relation data and custom_registries rendered the containerd charm's way into a real containerd
// 1.6, which then pulls `rocks.canonical.com[:443]/...` through the mirror over TLS with auth,
// presenting the node's own certificate as the charm makes it do.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePassword, renderHtpasswd } from '../../src/auth/htpasswd.js';
import { renderContainerdRegistryConfig } from '../../src/relations/containerd-toml.js';
import { decodeRelationValue, mirrorHosts, providerUnitData } from '../../src/relations/docker-registry.js';
import { createCa, issueServerCert } from '../../src/tls/index.js';
import { criPull, startContainerd, type Containerd } from '../support/containerd.js';
import { startConfiguredRegistry, startTestRegistry } from '../support/registry.js';
import { BUSYBOX_REPO, BUSYBOX_TAG, pushBusybox } from '../support/busybox-image.js';

const REPO = BUSYBOX_REPO;
const TAG = BUSYBOX_TAG;
const NAME = 'registry.test';


const canRun = process.getuid?.() === 0 && fs.existsSync('/usr/bin/containerd');
const maybe = canRun ? describe : describe.skip;
if (!canRun) console.warn('containerd e2e skipped: needs root and /usr/bin/containerd (Debian containerd)');

maybe('containerd 1.6 through the docker-registry relation as the containerd charm renders it', () => {
  let dir: string;
  const stops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('pulls both spellings of rocks.canonical.com through the mirror with TLS and basic auth', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relation-e2e-'));
    const plain = await startTestRegistry();
    stops.push(() => plain.stop());
    const { imageId } = await pushBusybox(plain.url);

    const ca = await createCa({ commonName: 'offline-registry e2e CA' });
    const server = await issueServerCert(ca, { commonName: NAME, dnsNames: [NAME], ipAddresses: ['127.0.0.1'] });
    const password = generatePassword();
    const registry = await startConfiguredRegistry({
      dataDir: plain.dataDir,
      files: { 'server.crt': server.cert, 'server.key': server.key, htpasswd: renderHtpasswd('containerd', password) },
      config: (d) => ({
        http: { tls: { certificate: path.join(d, 'server.crt'), key: path.join(d, 'server.key') } },
        auth: { htpasswd: { realm: 'offline-registry', path: path.join(d, 'htpasswd') } },
      }),
    });
    stops.push(() => registry.stop());
    const netloc = `${NAME}:${registry.port}`;

    // The Kubernetes node's own CA and certificate, which the charm hands containerd as ca/cert/key.
    const nodeCa = await createCa({ commonName: 'kubernetes node CA' });
    const node = await issueServerCert(nodeCa, { commonName: 'node-0', dnsNames: ['node-0'], ipAddresses: [] });
    const write = (n: string, c: string) => (fs.writeFileSync(path.join(dir, n), c, { mode: 0o600 }), path.join(dir, n));
    const nodeTls = { ca: write('node-ca.crt', nodeCa.cert), cert: write('node.crt', node.cert), key: write('node.key', node.key) };
    // What install_ca_cert achieves on a node: our CA in the system pool.
    const systemPool = write('ca-certificates.crt', ca.cert);

    const relationData = providerUnitData({ netloc, tls: true, caPem: ca.cert, auth: { user: 'containerd', password } }, mirrorHosts(['rocks.canonical.com']));
    const customRegistries = decodeRelationValue(relationData.custom_registries!) as string;
    const configToml = renderContainerdRegistryConfig(customRegistries, { relationData, nodeTls });

    const c: Containerd = await startContainerd({ hosts: { [NAME]: '127.0.0.1' }, env: { SSL_CERT_FILE: systemPool }, configToml });
    stops.push(() => c.stop());
    expect(await criPull(c, `rocks.canonical.com:443/${REPO}:${TAG}`)).toEqual({ ok: true, imageRef: imageId });
    expect(await criPull(c, `rocks.canonical.com/${REPO}:${TAG}`)).toEqual({ ok: true, imageRef: imageId });
    expect(await criPull(c, `${netloc}/${REPO}:${TAG}`)).toEqual({ ok: true, imageRef: imageId });
    expect(c.logs()).toContain(`https://${netloc}/v2/${REPO}/manifests/${TAG}?ns=rocks.canonical.com%3A443`);
    expect(c.logs()).not.toContain(password);
  });
});
