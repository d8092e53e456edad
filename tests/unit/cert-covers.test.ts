// Whether a unit's served certificate is valid for the address it publishes (containerd-config
// leaves a unit out of hosts.toml otherwise), with real certificates from openssl.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certCoversHost } from '../../src/sync/index.js';
import { createCa, issueServerCert } from '../../src/tls/index.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cert-covers-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('an IP or a name in the SANs is ok; another address is named with what the certificate names', async () => {
  const ca = await createCa({ commonName: 'test CA' });
  const server = await issueServerCert(ca, { commonName: 'unit-1', dnsNames: ['unit-1.internal'], ipAddresses: ['10.0.0.8', '::1'] });
  const file = path.join(tmp, 'server.crt');
  fs.writeFileSync(file, server.cert);
  expect(certCoversHost(file, '10.0.0.8')).toBe('ok');
  expect(certCoversHost(file, '[::1]')).toBe('ok');
  expect(certCoversHost(file, 'unit-1.internal')).toBe('ok');
  expect(certCoversHost(file, '10.0.0.9')).toMatch(/^its certificate is not valid for 10\.0\.0\.9 \(it names DNS:unit-1\.internal, IP Address:10\.0\.0\.8, IP Address:/);
  expect(certCoversHost(path.join(tmp, 'missing.crt'), '10.0.0.8')).toMatch(/cannot be read \(ENOENT\)/);
});
