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
  // The squatter accepts connections and never answers: each probe waits out its timeout, so install alone.
  const out = await runAll(sim, ['install'], state);
  squatter.close();
  expect(out.unitStatus.status).toBe('blocked');
  expect(out.unitStatus.message).toMatch(new RegExp(`^the public registry did not come up at http://127\\.0\\.0\\.1:${port} \\(.*bind: address already in use\\)`));
  const again = await sim.run('update-status', out);
  expect(again.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(`at http://127.0.0.1:${port}`) });
}, 120000);

/** A CA and a server cert for 127.0.0.1 made by the test itself (operator-supplied material), base64 PEM. */
function operatorMaterial(dir: string, name: string) {
  fs.mkdirSync(dir, { recursive: true });
  const at = (f: string) => path.join(dir, f);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '30', '-subj', `/CN=${name} CA`]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', `/CN=${name}`]);
  fs.writeFileSync(at('ext.cnf'), `subjectAltName=IP:127.0.0.1,DNS:${name}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.crt'), '-days', '30', '-extfile', at('ext.cnf')]);
  const b64 = (f: string) => fs.readFileSync(at(f)).toString('base64');
  return { cert: b64('server.crt'), key: b64('server.key'), ca: b64('ca.crt'), caPem: fs.readFileSync(at('ca.crt'), 'utf8') };
}

interface Served { sim: Simulator; out: RunOutput; port: number; writerPort: number; ca: string }
interface Row {
  option: string;
  bad: Record<string, string | number | boolean>;
  good: (current: Served) => Promise<Record<string, string | number | boolean>>;
  /** What the valid value changes in what is served. */
  served: (s: Served) => Promise<void>;
}

const v2 = (s: Served, opts: { port?: number; ca?: string; servername?: string; auth?: { user: string; password: string } } = {}) =>
  httpsRequest(`https://127.0.0.1:${opts.port ?? s.port}/v2/`, { ca: opts.ca ?? s.ca, servername: opts.servername, auth: opts.auth });
const sans = async (s: Served) => (await v2(s)).peerCert?.subjectaltname ?? '';

// Every option of the README's Configuration table that can hold an invalid value. auto-load, tls
// and auth are booleans: Juju refuses anything else at `juju config` time, so the charm never sees
// a bad one. kubeconfig is read by audit-cluster only (which fails the action naming it).
const operator = operatorMaterial(path.join(tmp, 'operator'), 'registry.corp');
const other = operatorMaterial(path.join(tmp, 'other'), 'other.corp');
const ROWS: Row[] = [
  { option: 'port', bad: { port: 0 }, good: async () => ({ port: await freePort() }), served: async (s) => expect((await v2(s)).status).toBe(200) },
  { option: 'writer-port', bad: { 'writer-port': 'same' }, good: async () => ({ 'writer-port': await freePort() }), served: async (s) => expect((await fetch(`http://127.0.0.1:${s.writerPort}/v2/`)).status).toBe(200) },
  { option: 'bind-address', bad: { 'bind-address': 'http://127.0.0.1' }, good: async () => ({ 'bind-address': '127.0.0.1' }), served: async (s) => expect((await v2(s)).status).toBe(200) },
  { option: 'http-host', bad: { 'http-host': 'registry.test:5000' }, good: async () => ({ 'http-host': 'registry.test' }), served: async (s) => expect(await sans(s)).toContain('DNS:registry.test') },
  { option: 'log-level', bad: { 'log-level': 'loud' }, good: async () => ({ 'log-level': 'debug' }), served: async (s) => expect(fs.readFileSync(path.join(s.sim.rootDir, 'etc/offline-registry/public.yml'), 'utf8')).toMatch(/level: debug/) },
  { option: 'layer-compression', bad: { 'layer-compression': 'zstd' }, good: async () => ({ 'layer-compression': 'gzip' }), served: async (s) => expect((await v2(s)).status).toBe(200) },
  { option: 'tls-sans', bad: { 'tls-sans': 'bad_name!' }, good: async () => ({ 'tls-sans': 'registry.example' }), served: async (s) => expect(await sans(s)).toContain('DNS:registry.example') },
  { option: 'tls-key', bad: { 'tls-cert': operator.cert }, good: async () => ({ 'tls-cert': operator.cert, 'tls-key': operator.key, 'tls-ca': operator.ca }), served: async (s) => expect((await v2(s, { ca: operator.caPem, servername: 'registry.corp' })).status).toBe(200) },
  { option: 'tls-key', bad: { 'tls-key': other.key }, good: async () => ({ 'tls-key': operator.key }), served: async (s) => expect((await v2(s, { ca: operator.caPem, servername: 'registry.corp' })).status).toBe(200) },
  { option: 'tls-cert', bad: { 'tls-cert': 'bm90IGEgY2VydA==' }, good: async () => ({ 'tls-cert': operator.cert }), served: async (s) => expect((await v2(s, { ca: operator.caPem, servername: 'registry.corp' })).status).toBe(200) },
  { option: 'tls-ca', bad: { 'tls-ca': other.ca }, good: async () => ({ 'tls-cert': '', 'tls-key': '', 'tls-ca': '' }), served: async (s) => expect((await v2(s)).status).toBe(200) },
  { option: 'auth-basic-user', bad: { auth: true, 'auth-basic-user': 'a:b' }, good: async () => ({ auth: true, 'auth-basic-user': 'ops', 'auth-basic-password': 'right-password' }), served: async (s) => {
    expect((await v2(s)).status).toBe(401);
    expect((await v2(s, { auth: { user: 'ops', password: 'right-password' } })).status).toBe(200);
  } },
  { option: 'auth-basic-password', bad: { 'auth-basic-password': 'pa"ss' }, good: async () => ({ 'auth-basic-password': 'other-password' }), served: async (s) => expect((await v2(s, { auth: { user: 'ops', password: 'other-password' } })).status).toBe(200) },
];

test('every invalid option value blocks naming the option, and the next valid value returns to active with it served', async () => {
  const sim = await unit();
  let out = await runAll(sim, DEPLOY, await tlsState());
  expect(out.unitStatus.status).toBe('active');
  const ca = await caOf(sim, out);
  const failures: string[] = [];
  for (const row of ROWS) {
    const bad = { ...row.bad };
    if (bad['writer-port'] === 'same') bad['writer-port'] = out.config.port;
    const blocked = await sim.run('config-changed', { ...out, config: { ...out.config, ...bad } });
    expect(blocked.exitCode).toBe(0);
    if (blocked.unitStatus.status !== 'blocked' || !blocked.unitStatus.message.includes(row.option)) failures.push(`${row.option} ${JSON.stringify(bad)}: ${JSON.stringify(blocked.unitStatus)}`);
    out = await sim.run('config-changed', { ...blocked, config: { ...blocked.config, ...(await row.good({ sim, out: blocked, ...portsOf(blocked), ca })) } });
    expect(out.exitCode).toBe(0);
    if (out.unitStatus.status !== 'active') failures.push(`${row.option} after the valid value: ${JSON.stringify(out.unitStatus)}`);
    else await row.served({ sim, out, ...portsOf(out), ca });
  }
  expect(failures).toEqual([]);
}, 240000);
