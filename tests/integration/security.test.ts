// TLS by default, operator material, basic auth and secrets hygiene, through the packed charm's
// dispatch with the real registry, openssl and containerd.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { writeBusyboxSave } from '../support/archives.js';
import { ctrPull, startContainerd } from '../support/containerd.js';
import { httpsRequest } from '../support/https.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, serving, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'security-it-'));
afterAll(async () => {
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const PEERS = { id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] as string[] };

/** A TLS unit (the default: no tls option set) with the peer relation, as a real deploy has it. */
async function tlsState(extra: State = {}): Promise<State> {
  const state = await loopbackState({ relations: [{ ...PEERS }], ...extra });
  delete state.config!.tls;
  return state;
}

function x509(pem: string) {
  return new crypto.X509Certificate(pem);
}

async function credentials(sim: Simulator, state: RunOutput) {
  const out = await sim.run({ action: 'get-credentials' }, state);
  expect(out.action?.status).toBe('completed');
  return out.action!.results as Record<string, string>;
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A CA and a server cert for 127.0.0.1 made by the test itself (operator-supplied material). */
function makeOperatorMaterial(dir: string, name: string) {
  fs.mkdirSync(dir, { recursive: true });
  const at = (f: string) => path.join(dir, f);
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('ca.key'), '-out', at('ca.crt'), '-days', '30', '-subj', `/CN=${name} CA`]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', `/CN=${name}`]);
  fs.writeFileSync(at('ext.cnf'), `subjectAltName=IP:127.0.0.1,DNS:${name}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', at('server.csr'), '-CA', at('ca.crt'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.crt'), '-days', '30', '-extfile', at('ext.cnf')]);
  const b64 = (f: string) => fs.readFileSync(at(f)).toString('base64');
  return { cert: b64('server.crt'), key: b64('server.key'), ca: b64('ca.crt'), caPem: fs.readFileSync(at('ca.crt'), 'utf8'), keyPem: fs.readFileSync(at('server.key'), 'utf8') };
}

test('by default the public registry serves TLS from a generated CA, for 127.0.0.1 and the tls-sans names', async () => {
  const sim = await unit();
  const state = await tlsState({ config: { 'tls-sans': 'registry.example 10.9.8.7' } });
  const { port } = portsOf(state);
  const out = await runAll(sim, [...DEPLOY, 'update-status'], state);
  expect(out.unitStatus).toEqual({ status: 'active', message: serving(0, `https://127.0.0.1:${port}`) });

  const creds = await credentials(sim, out);
  expect(creds.url).toBe(`https://127.0.0.1:${port}`);
  const ca = creds['ca-cert'];
  expect(x509(ca).ca).toBe(true);
  // The CA is kept in an application-owned Juju secret, and its certificate in the peer app data.
  const caSecret = out.secrets.find((s) => s.label === 'offline-registry-ca');
  expect(caSecret?.owner).toBe('application');
  expect(caSecret?.revisions.at(-1)?.['ca-cert']).toBe(ca);
  expect(out.relations[0].localAppData['ca-cert']).toBe(ca);

  const byIp = await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca });
  expect(byIp.status).toBe(200);
  const byName = await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca, servername: 'registry.example' });
  expect(byName.status).toBe(200);
  await expect(httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca, servername: 'not-in-the-sans.example' })).rejects.toThrow(/altnames|Hostname\/IP does not match/);
  await expect(httpsRequest(`https://127.0.0.1:${port}/v2/`, {})).rejects.toThrow(/self.signed|unable to verify|local issuer/);
  expect(byIp.peerCert?.subjectaltname).toContain('IP Address:10.9.8.7');

  const keyFile = path.join(sim.rootDir, 'etc/offline-registry/tls/server.key');
  expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);

  // The SANs follow tls-sans; the CA stays.
  const changed = await runAll(sim, ['config-changed'], { ...out, config: { ...out.config, 'tls-sans': 'other.example' } });
  expect(changed.unitStatus.status).toBe('active');
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca, servername: 'other.example' })).status).toBe(200);
  await expect(httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca, servername: 'registry.example' })).rejects.toThrow(/altnames|does not match/);

  // A second unit of the app issues its own certificate from the same CA.
  const second = await unit();
  const secondState = await tlsState({
    unitName: 'offline-registry/1',
    leader: false,
    secrets: changed.secrets,
    relations: [{ ...PEERS, remoteUnits: ['offline-registry/0'], localAppData: changed.relations[0].localAppData }],
  });
  const secondOut = await runAll(second, DEPLOY, secondState);
  expect(secondOut.unitStatus.status).toBe('active');
  const secondPort = portsOf(secondState).port;
  const secondServed = await httpsRequest(`https://127.0.0.1:${secondPort}/v2/`, { ca });
  expect(secondServed.status).toBe(200);
  const firstCert = fs.readFileSync(path.join(sim.rootDir, 'etc/offline-registry/tls/server.crt'), 'utf8');
  const secondCert = fs.readFileSync(path.join(second.rootDir, 'etc/offline-registry/tls/server.crt'), 'utf8');
  expect(x509(secondCert).fingerprint256).not.toBe(x509(firstCert).fingerprint256);
  expect(x509(secondCert).verify(x509(ca).publicKey)).toBe(true);
}, 90000);

test('a non-leader waits for the leader CA instead of making its own', async () => {
  const sim = await unit();
  const out = await runAll(sim, DEPLOY, await tlsState({ unitName: 'offline-registry/1', leader: false }));
  expect(out.unitStatus).toEqual({ status: 'waiting', message: 'waiting for the leader to create the registry CA' });
  expect(out.secrets).toEqual([]);
});

test('operator-supplied cert/key/ca are served; a mismatched key blocks naming tls-key', async () => {
  const sim = await unit();
  const material = makeOperatorMaterial(path.join(tmp, 'operator'), 'registry.corp');
  const state = await tlsState({ config: { 'tls-cert': material.cert, 'tls-key': material.key, 'tls-ca': material.ca } });
  const { port } = portsOf(state);
  const out = await runAll(sim, DEPLOY, state);
  expect(out.unitStatus.status).toBe('active');
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: material.caPem, servername: 'registry.corp' })).status).toBe(200);
  expect(out.secrets.map((s) => s.label)).toEqual(['offline-registry-http-secret']); // no CA made when the operator brings one

  const other = makeOperatorMaterial(path.join(tmp, 'other'), 'other.corp');
  const bad = await sim.run('config-changed', { ...out, config: { ...out.config, 'tls-key': other.key } });
  expect(bad.exitCode).toBe(0);
  expect(bad.unitStatus.status).toBe('blocked');
  expect(bad.unitStatus.message).toMatch(/^tls-key does not match tls-cert/);
  // The registry keeps serving the material it had.
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: material.caPem, servername: 'registry.corp' })).status).toBe(200);
});

test.each([
  ['auth-basic-password', 'pa"ss', /auth-basic-password must not contain " or \\/],
  ['auth-basic-password', 'back\\slash', /auth-basic-password must not contain " or \\/],
  ['auth-basic-user', 'a:b', /auth-basic-user must not contain ":"/],
])('auth with a bad %s blocks with a clear message that never echoes it', async (option, value, message) => {
  const sim = await unit();
  const out = await sim.run('config-changed', await loopbackState({ config: { auth: true, [option]: value } }));
  expect(out.unitStatus.status).toBe('blocked');
  expect(out.unitStatus.message).toMatch(message);
  if (option === 'auth-basic-password') expect(out.unitStatus.message).not.toContain(value);
});

test('with auth on, containerd pulls over HTTPS with credentials and not without; client certs are not required; no secret leaks', async () => {
  const sim = await unit();
  const state = await tlsState({ config: { auth: true } });
  const { port } = portsOf(state);
  const archive = path.join(tmp, 'busybox.tar');
  writeBusyboxSave(archive, ['rocks.canonical.com:443/cdk/test/busybox:1.35']);
  const deployed = await runAll(sim, DEPLOY, { ...state, resources: { images: archive } });
  expect(deployed.unitStatus.message).toEqual(serving(1, `https://127.0.0.1:${port}`));
  const creds = await credentials(sim, deployed);
  expect(creds.username).toBe('offline-registry');
  expect(creds.password).toMatch(/^[A-Za-z0-9_-]{24,}$/);
  const ca = creds['ca-cert'];
  const auth = { user: creds.username, password: creds.password };

  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca })).status).toBe(401);
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca, auth })).status).toBe(200);
  // containerd presents the node's own certificate as a client certificate: it must not matter.
  const stranger = makeOperatorMaterial(path.join(tmp, 'stranger'), 'kubelet.node');
  const withClientCert = await httpsRequest(`https://127.0.0.1:${port}/v2/cdk/test/busybox/manifests/1.35`, {
    ca,
    auth,
    cert: Buffer.from(stranger.cert, 'base64').toString(),
    key: stranger.keyPem,
    headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
  });
  expect(withClientCert.status).toBe(200);
  // The writer stays on loopback without auth, for the charm only.
  expect((await fetch(`http://127.0.0.1:${portsOf(state).writerPort}/v2/`)).status).toBe(200);

  const hostsDir = path.join(tmp, 'certs.d');
  const caFile = path.join(tmp, 'registry-ca.crt');
  fs.writeFileSync(caFile, ca);
  fs.mkdirSync(path.join(hostsDir, 'rocks.canonical.com:443'), { recursive: true });
  fs.writeFileSync(
    path.join(hostsDir, 'rocks.canonical.com:443/hosts.toml'),
    `server = "https://rocks.canonical.com:443"\n[host."https://127.0.0.1:${port}"]\n  capabilities = ["pull", "resolve"]\n  ca = "${caFile}"\n`,
  );
  const containerd = await startContainerd({ requireCri: false });
  try {
    const anonymous = await ctrPull(containerd, 'rocks.canonical.com:443/cdk/test/busybox:1.35', { hostsDir, timeoutMs: 20000 });
    expect(anonymous.ok).toBe(false);
    expect(anonymous.output).toMatch(/401|unauthorized/i);
    const pulled = await ctrPull(containerd, 'rocks.canonical.com:443/cdk/test/busybox:1.35', { hostsDir, user: `${auth.user}:${auth.password}` });
    expect(pulled.ok).toBe(true);
  } finally {
    await containerd.stop();
  }

  // A whole deploy-load-relate run: everything the charm said never contains a secret.
  const withRelation = { ...deployed, relations: [...deployed.relations, { id: 7, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] }] };
  const runs: RunOutput[] = [deployed];
  let current: RunOutput = await sim.run('docker-registry-relation-created', withRelation, { relation: 7 });
  runs.push(current);
  for (const hook of ['docker-registry-relation-joined', 'docker-registry-relation-changed']) {
    current = await sim.run(hook, current, { relation: 7, remoteUnit: 'containerd/0' });
    runs.push(current);
  }
  for (const action of [{ action: 'load-images' }, { action: 'list-images' }, { action: 'check-images', params: { list: 'rocks.canonical.com/cdk/test/busybox:1.35' } }]) {
    current = await sim.run(action, current);
    expect(current.exitCode).toBe(0);
    runs.push(current);
  }
  current = await sim.run('update-status', current);
  runs.push(current);
  // The relation data carries the password to containerd by design: that is its job.
  expect(JSON.parse(current.relations.find((r) => r.id === 7)!.localUnitData.basic_password)).toBe(creds.password);

  const secrets = [creds.password, fs.readFileSync(path.join(sim.rootDir, 'etc/offline-registry/tls/server.key'), 'utf8').trim(), deployed.secrets.find((s) => s.label === 'offline-registry-ca')!.revisions[0]['ca-key'].trim()];
  const said = [
    ...current.logs.map((l) => l.message),
    ...current.statusHistory.map((s) => s.message),
    ...runs.flatMap((r) => [r.stdout, r.stderr, ...(r.action ? [...r.action.logs, JSON.stringify(r.action.results), r.action.message] : [])]),
    ...sim.unitLog('offline-registry-public').split('\n'),
    ...sim.unitLog('offline-registry-writer').split('\n'),
  ].join('\n');
  for (const secret of secrets) {
    expect(secret.length).toBeGreaterThan(20);
    expect(said).not.toContain(secret);
    // PEM bodies could leak line by line too.
    for (const line of secret.split('\n').filter((l) => l.length > 40)) expect(said).not.toContain(line);
  }
  for (const file of ['etc/offline-registry/tls/server.key', 'etc/offline-registry/htpasswd', 'etc/offline-registry/auth-password', 'etc/offline-registry/public.yml', 'etc/offline-registry/http-secret']) {
    expect({ file, mode: (fs.statSync(path.join(sim.rootDir, file)).mode & 0o777).toString(8) }).toEqual({ file, mode: '600' });
  }
}, 120000);


test('a CA secret that Juju discarded (its hook failed) is made again by the leader, and the certificate follows', async () => {
  const sim = await unit();
  const state = await tlsState();
  const { port } = portsOf(state);
  const deployed = await runAll(sim, DEPLOY, state);
  const firstCa = deployed.secrets.find((s) => s.label === 'offline-registry-ca')!.revisions[0]['ca-cert'];
  // update-status stays cheap: it does not look for the secret.
  const quiet = await sim.run('update-status', { ...deployed, secrets: [] });
  expect(quiet.secrets).toEqual([]);
  // A hook that re-checks finds it gone: a new CA, a new certificate from it, the peers told.
  const healed = await sim.run('config-changed', { ...deployed, secrets: [] });
  expect(healed.unitStatus.status).toBe('active');
  const newCa = healed.secrets.find((s) => s.label === 'offline-registry-ca')!.revisions[0]['ca-cert'];
  expect(newCa).not.toBe(firstCa);
  expect(healed.relations[0].localAppData['ca-cert']).toBe(newCa);
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: newCa })).status).toBe(200);
  await expect(httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: firstCa })).rejects.toThrow();
});

test('in Juju\'s deploy order (install before the peer relation exists) the leader still shares the CA with its peers', async () => {
  const sim = await unit();
  const base = await tlsState();
  const installed = await sim.run('install', { ...base, relations: [] });
  expect(installed.exitCode).toBe(0);
  expect(installed.secrets.map((s) => s.label)).toEqual(['offline-registry-ca', 'offline-registry-http-secret']);
  let out = await sim.run('registry-peers-relation-created', { ...installed, relations: [{ ...PEERS }] }, { relation: 1 });
  out = await runAll(sim, ['leader-elected', 'config-changed', 'start'], out);
  const shared = out.relations[0].localAppData;
  expect(shared['ca-cert']).toBe(installed.secrets[0].revisions[0]['ca-cert']);
  expect(shared['ca-secret-id']).toMatch(/^secret:/);

  const second = await unit();
  const joined = await runAll(second, DEPLOY, await tlsState({
    unitName: 'offline-registry/1',
    leader: false,
    secrets: out.secrets,
    relations: [{ ...PEERS, remoteUnits: ['offline-registry/0'], localAppData: shared }],
  }));
  expect(joined.unitStatus.status).toBe('active');
});

test('update-status renews a certificate that is about to expire', async () => {
  const sim = await unit();
  const state = await tlsState();
  const { port } = portsOf(state);
  const deployed = await runAll(sim, DEPLOY, state);
  const caSecret = deployed.secrets.find((s) => s.label === 'offline-registry-ca')!.revisions[0];
  // Put in place a certificate from the same CA that expires in 5 days.
  const dir = fs.mkdtempSync(path.join(tmp, 'short-'));
  fs.writeFileSync(path.join(dir, 'ca.crt'), caSecret['ca-cert']);
  fs.writeFileSync(path.join(dir, 'ca.key'), caSecret['ca-key'], { mode: 0o600 });
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path.join(dir, 'server.key'), '-out', path.join(dir, 'server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(['x509', '-req', '-in', path.join(dir, 'server.csr'), '-CA', path.join(dir, 'ca.crt'), '-CAkey', path.join(dir, 'ca.key'), '-CAcreateserial', '-days', '5', '-out', path.join(dir, 'server.crt'), '-extfile', path.join(dir, 'ext.cnf')]);
  const tlsDir = path.join(sim.rootDir, 'etc/offline-registry/tls');
  fs.copyFileSync(path.join(dir, 'server.crt'), path.join(tlsDir, 'server.crt'));
  fs.copyFileSync(path.join(dir, 'server.key'), path.join(tlsDir, 'server.key'));

  const renewed = await sim.run('update-status', deployed);
  expect(renewed.unitStatus.status).toBe('active');
  const served = x509(fs.readFileSync(path.join(tlsDir, 'server.crt'), 'utf8'));
  expect(new Date(served.validTo).getTime() - Date.now()).toBeGreaterThan(300 * 24 * 3600 * 1000);
  const answer = await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: caSecret['ca-cert'] });
  expect(answer.status).toBe(200);
  expect(answer.peerCert && (answer.peerCert as { valid_to?: string }).valid_to).toBe(served.validTo);
});
