// A real docker-registry serving our generated certificate; Node clients trusting only our CA.
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import path from 'node:path';
import { createCa, issueServerCert, type Pem } from '../../src/tls/index.js';
import { startConfiguredRegistry, type ConfiguredRegistry } from '../support/registry.js';

let ca: Pem;
let registry: ConfiguredRegistry;

beforeAll(async () => {
  ca = await createCa({ commonName: 'offline-registry test CA' });
  const server = await issueServerCert(ca, {
    commonName: 'registry.example',
    dnsNames: ['registry.example', 'localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  registry = await startConfiguredRegistry({
    files: { 'server.crt': server.cert, 'server.key': server.key },
    config: (dir) => ({ http: { tls: { certificate: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') } } }),
  });
});

afterAll(async () => {
  await registry?.stop();
});

// Every name resolves to 127.0.0.1, so the certificate check alone decides.
const toLoopback: LookupFunction = (_host, options, callback) => {
  if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};

function getV2(host: string, trust: string | undefined): Promise<{ status: number; apiVersion: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host, port: registry.port, path: '/v2/', method: 'GET', ca: trust, lookup: toLoopback, agent: false, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, apiVersion: res.headers['docker-distribution-api-version'] as string | undefined }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('trusting only our CA, the registry answers on 127.0.0.1', async () => {
  expect(await getV2('127.0.0.1', ca.cert)).toEqual({ status: 200, apiVersion: 'registry/2.0' });
});

test('trusting only our CA, the registry answers under a DNS SAN', async () => {
  expect(await getV2('registry.example', ca.cert)).toEqual({ status: 200, apiVersion: 'registry/2.0' });
  expect((await getV2('localhost', ca.cert)).status).toBe(200);
});

test('a name not in the SANs is refused', async () => {
  await expect(getV2('elsewhere.example', ca.cert)).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
});

test('without our CA the certificate is not trusted', async () => {
  const otherCa = await createCa({ commonName: 'unrelated CA' });
  await expect(getV2('127.0.0.1', otherCa.cert)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
});
