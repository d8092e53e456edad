// The tls-certificates v4 requirer logic without dispatch: relation data, CSR matching, the served
// chain whatever the provider's chain order, renewal time, and the checks on a provider's certificate.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certificateFor, providerCertificates, renewalTime, requirerUnitData, servedChain } from '../../src/certificates/protocol.js';
import { certificateProblem, createCsr, generateRequirerKey } from '../../src/certificates/x509.js';
import { type OpensslRun, defaultOpensslRun } from '../../src/tls/index.js';
import { TestCa, csrText } from '../support/tls-provider.js';

const fingerprint = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'certificates-unit-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let key: string;
let csr: string;
let ca: TestCa;
const argv: string[][] = [];
const spy: OpensslRun = async (args, opts) => {
  argv.push(args);
  return defaultOpensslRun(args, opts);
};

beforeAll(async () => {
  key = await generateRequirerKey(spy);
  csr = await createCsr(key, { commonName: 'registry.example', dnsNames: ['registry.example', 'localhost'], ipAddresses: ['127.0.0.1', '::1'] }, spy);
  ca = TestCa.create(path.join(tmp, 'ca'), 'vault', { intermediate: true });
}, 60000);

test('the CSR carries the names and a unique id; the key never goes on a command line', async () => {
  const text = csrText(csr);
  expect(text).toMatch(/Subject: CN = registry.example, x500UniqueIdentifier = [0-9a-f-]{36}/);
  expect(text).toMatch(/DNS:registry.example, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1/);
  const again = await createCsr(key, { commonName: 'registry.example', dnsNames: ['registry.example'], ipAddresses: [] });
  expect(again).not.toBe(csr); // same key and names, still a new request (how a renewal is asked for)
  const keyBody = key.split('\n')[1]!;
  expect(argv.flat().join(' ')).not.toContain(keyBody);
  await expect(createCsr(key, { commonName: 'a\nCN=evil', dnsNames: [], ipAddresses: [] })).rejects.toThrow(/common name/);
});

test('relation data as the v4 library reads and writes it', () => {
  expect(JSON.parse(requirerUnitData(`${csr}\n`).certificate_signing_requests!)).toEqual([{ certificate_signing_request: csr.trim(), ca: false }]);
  const cert = ca.sign(csr);
  const bag = {
    certificates: JSON.stringify([
      { certificate_signing_request: 'not ours', certificate: cert, ca: ca.rootPem, chain: [] },
      { certificate: cert }, // no CSR: skipped
      // The provider's PEM may be spelled differently (CRLF, no final newline): DER decides.
      { certificate_signing_request: csr.trim().replace(/\n/g, '\r\n'), certificate: cert, ca: ca.rootPem, chain: [ca.rootPem, cert], recommended_expiry_notification_time: 72 },
    ]),
  };
  const entries = providerCertificates(bag);
  expect(entries).toHaveLength(2);
  expect(certificateFor(csr, entries)).toMatchObject({ certificate: cert, recommendedNotificationHours: 72, revoked: false });
  expect(certificateFor(csr, providerCertificates({ certificates: 'not json' }))).toBeUndefined();
  expect(providerCertificates({})).toEqual([]);
});

test('the served chain is leaf then intermediates, whatever the chain order; tls_ca is the CA and its chain', () => {
  const cert = ca.sign(csr, { byIntermediate: true });
  const leafFirst = servedChain({ certificate: cert, csr, ca: ca.intermediatePem!, chain: [cert, ca.intermediatePem!, ca.rootPem], revoked: false });
  const rootFirst = servedChain({ certificate: cert, csr, ca: ca.intermediatePem!, chain: [ca.rootPem, ca.intermediatePem!, cert], revoked: false });
  for (const chain of [leafFirst, rootFirst]) {
    const blocks = chain.served.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
    expect(blocks.map(fingerprint)).toEqual([fingerprint(cert), fingerprint(ca.intermediatePem!)]);
    const trusted = chain.trust.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!;
    expect(trusted.map(fingerprint)).toEqual([fingerprint(ca.intermediatePem!), fingerprint(ca.rootPem)]);
  }
  // Signed by the root directly (self-signed-certificates): only the leaf is served.
  const direct = ca.sign(csr);
  expect(servedChain({ certificate: direct, csr, ca: ca.rootPem, chain: [ca.rootPem, direct], revoked: false }).served.match(/BEGIN CERTIFICATE/g)).toHaveLength(1);
});

test('renewal: the provider\'s recommendation when it fits the validity, else a third of it before expiry', () => {
  const from = new Date('2026-01-01T00:00:00Z');
  const to = new Date('2026-01-31T00:00:00Z');
  expect(renewalTime(from, to, 72).toISOString()).toBe('2026-01-28T00:00:00.000Z');
  expect(renewalTime(from, to).toISOString()).toBe('2026-01-21T00:00:00.000Z');
  expect(renewalTime(from, to, 24 * 40).toISOString()).toBe('2026-01-21T00:00:00.000Z');
});

test('a provider certificate is served only if it is for our key, current, and chains to the given CA', async () => {
  const good = ca.sign(csr, { byIntermediate: true });
  expect(await certificateProblem({ leaf: good, chain: ca.intermediatePem!, ca: ca.rootPem, keyPem: key })).toBeNull();
  expect(await certificateProblem({ leaf: good, chain: '', ca: ca.intermediatePem!, keyPem: key })).toBeNull();
  expect(await certificateProblem({ leaf: good, chain: '', ca: ca.rootPem, keyPem: key })).toMatch(/does not verify against the provider's CA \(unable to get local issuer certificate\)/);
  const later = new Date(Date.now() + 400 * 86400_000);
  expect(await certificateProblem({ leaf: good, chain: ca.intermediatePem!, ca: ca.rootPem, keyPem: key, now: later })).toMatch(/^the certificate expired on /);
  const otherKey = await generateRequirerKey();
  expect(await certificateProblem({ leaf: good, chain: ca.intermediatePem!, ca: ca.rootPem, keyPem: otherKey })).toMatch(/not for this unit's key/);
  expect(await certificateProblem({ leaf: 'garbage', chain: '', ca: ca.rootPem, keyPem: key })).toMatch(/does not parse/);
  expect(await certificateProblem({ leaf: good, chain: '', ca: '', keyPem: key })).toMatch(/no CA certificate/);
}, 60000);
