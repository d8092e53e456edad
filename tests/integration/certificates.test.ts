// The certificates relation (tls-certificates v4) through the packed charm's dispatch: a simulated
// provider signs the unit's CSR with a real openssl CA, the public registry serves that
// certificate, containerd pulls trusting only that CA, bad certificates are refused, renewal, and
// unrelating falls back to the generated CA.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { writeBusyboxSave } from '../support/archives.js';
import { type Containerd, ctrPull, startContainerd } from '../support/containerd.js';
import { httpsRequest } from '../support/https.js';
import { TestCa, csrText, providerAppData, requestedCsr, strangerCsr } from '../support/tls-provider.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, serving, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certificates-it-'));
let containerd: Containerd | undefined;
afterAll(async () => {
  await containerd?.stop();
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const PEERS = { id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] as string[] };
const CONTAINERD_REL = { id: 7, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] };
const CERTS_REL = { id: 3, endpoint: 'certificates', remoteApp: 'self-signed-certificates', remoteUnits: ['self-signed-certificates/0'] };
const IMAGE = 'rocks.canonical.com:443/cdk/test/busybox:1.35';

const fingerprint = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;
const rel = (state: RunOutput, id: number) => state.relations.find((r) => r.id === id)!;

/** The provider writing its app bag, then the requirer's app-level relation-changed. */
async function provide(sim: Simulator, state: RunOutput, entries: Parameters<typeof providerAppData>[0]): Promise<RunOutput> {
  const relations = state.relations.map((r) => (r.id === CERTS_REL.id ? { ...r, remoteAppData: providerAppData(entries) } : r));
  const out = await sim.run('certificates-relation-changed', { ...state, relations }, { relation: CERTS_REL.id, remoteUnit: null });
  if (out.exitCode !== 0) throw new Error(`certificates-relation-changed failed:\n${out.stderr}`);
  return out;
}

async function servedCert(port: number, ca: string) {
  const answer = await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca });
  expect(answer.status).toBe(200);
  return (answer.peerCert as { fingerprint256?: string }).fingerprint256;
}

/** containerd pulling the image through a hosts.toml that trusts exactly `caPem`. */
async function pullTrusting(port: number, caPem: string, name: string) {
  const hostsDir = path.join(tmp, `certs.d-${name}`);
  const caFile = path.join(tmp, `${name}-ca.crt`);
  fs.writeFileSync(caFile, caPem);
  fs.mkdirSync(path.join(hostsDir, 'rocks.canonical.com:443'), { recursive: true });
  fs.writeFileSync(
    path.join(hostsDir, 'rocks.canonical.com:443/hosts.toml'),
    `server = "https://rocks.canonical.com:443"\n[host."https://127.0.0.1:${port}"]\n  capabilities = ["pull", "resolve"]\n  ca = "${caFile}"\n`,
  );
  containerd ??= await startContainerd({ requireCri: false });
  return ctrPull(containerd, IMAGE, { hostsDir, timeoutMs: 30000 });
}

test('the provider\'s certificate is served and published as tls_ca; renewals are followed; bad ones are refused; unrelating falls back; no key leaks', async () => {
  const sim = await unit();
  const base = await loopbackState({ relations: [{ ...PEERS }, { ...CONTAINERD_REL }] });
  delete base.config!.tls;
  const archive = path.join(tmp, 'busybox.tar');
  writeBusyboxSave(archive, [IMAGE]);
  const { port } = portsOf(base);
  const runs: RunOutput[] = [];
  const record = (out: RunOutput) => (runs.push(out), out);
  const deployed = record(await runAll(sim, [...DEPLOY, 'docker-registry-relation-joined'], { ...base, resources: { images: archive } } as State));
  const generatedCa = deployed.secrets.find((s) => s.label === 'offline-registry-ca')!.revisions[0]!['ca-cert']!;
  const generatedServed = await servedCert(port, generatedCa);

  // Relating: the unit publishes a CSR for its own key, still serving the generated certificate.
  let out = record(await sim.run('certificates-relation-created', { ...deployed, relations: [...deployed.relations, { ...CERTS_REL }] }, { relation: 3 }));
  out = record(await sim.run('certificates-relation-joined', out, { relation: 3, remoteUnit: 'self-signed-certificates/0' }));
  expect(out.unitStatus).toEqual({ status: 'active', message: serving(1, `https://127.0.0.1:${port}`, 'waiting for a certificate from self-signed-certificates') });
  const csr = requestedCsr(rel(out, 3).localUnitData);
  const text = csrText(csr);
  expect(text).toMatch(/Subject: CN = [^,]+, x500UniqueIdentifier = [0-9a-f-]{36}/);
  expect(text).toContain('IP Address:127.0.0.1');
  // Only names clients use: no localhost, which a CA's policy (Vault's PKI role) may refuse.
  expect(text).not.toContain('DNS:localhost');
  expect(text).toMatch(/rsaEncryption[\s\S]*2048 bit/);
  expect(await servedCert(port, generatedCa)).toBe(generatedServed);
  const keyFile = path.join(sim.rootDir, 'etc/offline-registry/tls/certificates/server.key');
  expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);

  // The provider signs it (self-signed-certificates' chain order: [ca, certificate]).
  const ca = TestCa.create(path.join(tmp, 'provider'), 'self-signed-certificates');
  const first = ca.sign(csr);
  out = record(await provide(sim, out, [{ certificate: first, certificate_signing_request: csr, ca: ca.rootPem, chain: [ca.rootPem, first] }]));
  expect(out.unitStatus).toEqual({ status: 'active', message: serving(1, `https://127.0.0.1:${port}`) });
  expect(await servedCert(port, ca.rootPem)).toBe(fingerprint(first));
  await expect(httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: generatedCa })).rejects.toThrow();
  expect(JSON.parse(rel(out, 7).localUnitData.tls_ca!)).toBe(ca.rootPem);
  const creds = await sim.run({ action: 'get-credentials' }, out);
  expect(creds.action?.results['ca-cert']).toBe(ca.rootPem);
  runs.push(creds);
  const pulled = await pullTrusting(port, ca.rootPem, 'provider');
  expect(pulled).toEqual({ ok: true, output: expect.any(String) });

  // The provider reissues for the same CSR: the new certificate is served.
  const reissued = ca.sign(csr);
  out = record(await provide(sim, out, [{ certificate: reissued, certificate_signing_request: csr, ca: ca.rootPem, chain: [ca.rootPem, reissued] }]));
  expect(out.unitStatus.status).toBe('active');
  expect(await servedCert(port, ca.rootPem)).toBe(fingerprint(reissued));

  // New names: a new CSR; the current certificate is served until the provider answers it.
  out = record(await sim.run('config-changed', { ...out, config: { ...out.config, 'tls-sans': 'registry.example' } }));
  const renamedCsr = requestedCsr(rel(out, 3).localUnitData);
  expect(renamedCsr).not.toBe(csr);
  expect(csrText(renamedCsr)).toContain('DNS:registry.example');
  expect(out.unitStatus.message).toEqual(serving(1, `https://127.0.0.1:${port}`, 'waiting for a renewed certificate from self-signed-certificates'));
  expect(await servedCert(port, ca.rootPem)).toBe(fingerprint(reissued));
  const renamed = ca.sign(renamedCsr);
  out = record(await provide(sim, out, [{ certificate: renamed, certificate_signing_request: renamedCsr, ca: ca.rootPem, chain: [ca.rootPem, renamed] }]));
  expect(out.unitStatus.message).toEqual(serving(1, `https://127.0.0.1:${port}`));
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: ca.rootPem, servername: 'registry.example' })).status).toBe(200);

  // Bad certificates for our CSR: another key, another CA, expired. Each keeps the served one.
  const stranger = ca.sign(strangerCsr(path.join(tmp, 'stranger'), 'stranger'));
  const otherCa = TestCa.create(path.join(tmp, 'other'), 'other');
  const bad: Array<[string, string, RegExp]> = [
    ['another key', stranger, /^certificates relation: the certificate is not for this unit's key .* \(from self-signed-certificates\); still serving the previous certificate$/],
    ['another CA', otherCa.sign(renamedCsr), /^certificates relation: the certificate does not verify against the provider's CA \(.+\)/],
    ['expired', ca.sign(renamedCsr, { startDate: '20200101000000Z', endDate: '20200201000000Z' }), /^certificates relation: the certificate expired on 2020-02-01/],
  ];
  for (const [what, certificate, message] of bad) {
    out = record(await provide(sim, out, [{ certificate, certificate_signing_request: renamedCsr, ca: ca.rootPem, chain: [ca.rootPem, certificate] }]));
    expect({ what, status: out.unitStatus.status }).toEqual({ what, status: 'blocked' });
    expect(out.unitStatus.message).toMatch(message);
    expect(await servedCert(port, ca.rootPem)).toBe(fingerprint(renamed));
    expect(JSON.parse(rel(out, 7).localUnitData.tls_ca!)).toBe(ca.rootPem);
  }
  // update-status keeps saying why until the provider sends a good one.
  out = record(await sim.run('update-status', out));
  expect(out.unitStatus.message).toMatch(/expired on 2020-02-01/);

  // A good one again, near the end of its life: served, and update-status asks for a renewal.
  const now = Date.now();
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  const ageing = ca.sign(renamedCsr, { startDate: stamp(now - 20 * 86400_000), endDate: stamp(now + 5 * 86400_000) });
  out = record(await provide(sim, out, [{ certificate: ageing, certificate_signing_request: renamedCsr, ca: ca.rootPem, chain: [ca.rootPem, ageing] }]));
  expect(out.unitStatus.message).toEqual(serving(1, `https://127.0.0.1:${port}`));
  expect(await servedCert(port, ca.rootPem)).toBe(fingerprint(ageing));
  out = record(await sim.run('update-status', out));
  const renewalCsr = requestedCsr(rel(out, 3).localUnitData);
  expect(renewalCsr).not.toBe(renamedCsr);
  expect(out.unitStatus.message).toEqual(serving(1, `https://127.0.0.1:${port}`, 'waiting for a renewed certificate from self-signed-certificates'));
  const renewed = ca.sign(renewalCsr);
  out = record(await provide(sim, out, [{ certificate: renewed, certificate_signing_request: renewalCsr, ca: ca.rootPem, chain: [ca.rootPem, renewed] }]));
  expect(await servedCert(port, ca.rootPem)).toBe(fingerprint(renewed));

  // Revoked: a new request goes out; the status says so.
  out = record(await provide(sim, out, [{ certificate: renewed, certificate_signing_request: renewalCsr, ca: ca.rootPem, chain: [ca.rootPem, renewed], revoked: true }]));
  expect(out.unitStatus).toEqual({ status: 'blocked', message: 'certificates relation: self-signed-certificates revoked the certificate; asked for a new one, still serving the previous certificate' });
  expect(requestedCsr(rel(out, 3).localUnitData)).not.toBe(renewalCsr);

  // Unrelating: the generated CA is served and published again; containerd follows it.
  const keyPem = fs.readFileSync(keyFile, 'utf8');
  out = record(await sim.run('certificates-relation-broken', out, { relation: 3 }));
  expect(out.exitCode).toBe(0);
  expect(out.unitStatus).toEqual({ status: 'active', message: serving(1, `https://127.0.0.1:${port}`) });
  expect(out.relations.map((r) => r.id)).toEqual([1, 7]);
  // (a certificate from the generated CA, for the names of now: tls-sans changed meanwhile)
  expect(await servedCert(port, generatedCa)).not.toBe(fingerprint(renewed));
  expect((await httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: generatedCa, servername: 'registry.example' })).status).toBe(200);
  await expect(httpsRequest(`https://127.0.0.1:${port}/v2/`, { ca: ca.rootPem })).rejects.toThrow();
  expect(JSON.parse(rel(out, 7).localUnitData.tls_ca!)).toBe(generatedCa);
  expect(fs.existsSync(keyFile)).toBe(false);
  expect((await pullTrusting(port, generatedCa, 'generated')).ok).toBe(true);
  const refused = await pullTrusting(port, ca.rootPem, 'provider');
  expect(refused.ok).toBe(false);
  expect(refused.output).toMatch(/x509|certificate/);

  // The unit's private key never appeared anywhere the charm speaks.
  const said = [
    ...out.logs.map((l) => l.message),
    ...out.statusHistory.map((s) => s.message),
    ...runs.flatMap((r) => [r.stdout, r.stderr, ...r.relations.flatMap((x) => [JSON.stringify(x.localUnitData), JSON.stringify(x.localAppData)]), ...(r.action ? [...r.action.logs, JSON.stringify(r.action.results)] : [])]),
    sim.unitLog('offline-registry-public'),
  ].join('\n');
  expect(said).not.toMatch(/PRIVATE KEY/);
  for (const line of keyPem.split('\n').filter((l) => l.length > 40)) expect(said).not.toContain(line);
}, 240000);
