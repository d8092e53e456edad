// Ports through the packed charm's dispatch with the real registry: port=443 as the unprivileged
// account (the unit grants CAP_NET_BIND_SERVICE), a port another listener holds (the status says
// why from the registry's own log), and every option's bad value recovering once it is fixed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { decodeRelationValue } from '../../src/relations/docker-registry.js';
import { renderContainerdRegistryConfig } from '../../src/relations/containerd-toml.js';
import { writeBusyboxSave } from '../support/archives.js';
import { criPull, startContainerd } from '../support/containerd.js';
import { httpsRequest } from '../support/https.js';
import { freeLowPort } from '../support/low-port.js';
import { freePort } from '../support/ports.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ports-it-'));
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const asRoot = process.getuid?.() === 0;
const maybeRoot = asRoot && fs.existsSync('/usr/bin/containerd') ? test : test.skip;
if (!asRoot) console.warn('port 443 test skipped: it needs root (to bind below 1024 at all) and Debian containerd');

const PEERS = { id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] as string[] };
const NAME = 'registry.test'; // resolves to 127.0.0.1 for containerd alone (private /etc/hosts)

async function tlsState(extra: State = {}): Promise<State> {
  const state = await loopbackState({ relations: [{ ...PEERS }], ...extra });
  delete state.config!.tls;
  return state;
}

async function caOf(sim: Simulator, state: RunOutput): Promise<string> {
  const out = await sim.run({ action: 'get-credentials' }, state);
  return (out.action!.results as Record<string, string>)['ca-cert'];
}

maybeRoot('port=443: the public registry binds it as the registry account, the relation publishes <host>:443, containerd pulls', async () => {
  // Fails here, clearly, when something else on this machine holds 443.
  await freeLowPort(443);
  const sim = await unit();
  const images = path.join(tmp, 'images.tar');
  writeBusyboxSave(images, ['rocks.canonical.com:443/cdk/test/busybox:1.35']);
  const base = await tlsState({
    resources: { images },
    relations: [{ ...PEERS }, { id: 5, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] }],
  });
  const state: State = { ...base, config: { ...base.config, port: 443, 'http-host': NAME } };
  let out = await runAll(sim, DEPLOY, state);
  expect(out.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(new RegExp(`^Serving 1 images .* at https://${NAME}:443$`)) });
  const unitFile = fs.readFileSync(path.join(sim.rootDir, 'etc/systemd/system/offline-registry-public.service'), 'utf8');
  expect(unitFile).toMatch(/^User=docker-registry$/m);
  expect(unitFile).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  for (const hook of ['docker-registry-relation-created', 'docker-registry-relation-joined', 'docker-registry-relation-changed']) {
    out = await sim.run(hook, out, { relation: 5, ...(hook.endsWith('created') ? {} : { remoteUnit: 'containerd/0' }) });
    expect(out.exitCode).toBe(0);
  }
  const ca = await caOf(sim, out);
  expect((await httpsRequest('https://127.0.0.1:443/v2/', { ca, servername: NAME })).status).toBe(200);
  const bag = out.relations.find((r) => r.id === 5)!.localUnitData;
  expect(decodeRelationValue(bag.registry_netloc)).toBe(`${NAME}:443`);

  // The Kubernetes node's own cert, which the containerd charm presents as client cert.
  const node = path.join(tmp, 'node');
  fs.mkdirSync(node);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(node, 'server.key'), '-out', path.join(node, 'server.crt'), '-days', '2', '-subj', '/CN=node-0'], { stdio: 'ignore' });
  const nodeTls = { ca: path.join(node, 'server.crt'), cert: path.join(node, 'server.crt'), key: path.join(node, 'server.key') };
  const configToml = renderContainerdRegistryConfig(decodeRelationValue(bag.custom_registries) as string, { relationData: bag, nodeTls, configDirectory: path.join(tmp, 'etc-containerd') });
  const pool = path.join(tmp, 'pool.crt');
  fs.writeFileSync(pool, ca);
  const c = await startContainerd({ hosts: { [NAME]: '127.0.0.1' }, env: { SSL_CERT_FILE: pool }, configToml });
  stops.push(() => c.stop());
  for (const ref of [`${NAME}:443/cdk/test/busybox:1.35`, 'rocks.canonical.com:443/cdk/test/busybox:1.35']) {
    const pulled = await criPull(c, ref);
    expect({ ref, ...pulled }).toMatchObject({ ref, ok: true });
  }
}, 180000);

test('a port another listener holds blocks with the registry\'s own reason; freeing it recovers', async () => {
  const sim = await unit();
  const state = await loopbackState();
  const { port } = portsOf(state);
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  const out = await runAll(sim, DEPLOY, state).catch((err) => Promise.reject(err));
  squatter.close();
  expect(out.unitStatus.status).toBe('blocked');
  expect(out.unitStatus.message).toMatch(new RegExp(`^the public registry did not come up at http://127\\.0\\.0\\.1:${port} \\(.*bind: address already in use\\)`));
  const again = await sim.run('update-status', out);
  expect(again.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(`at http://127.0.0.1:${port}`) });
}, 120000);
