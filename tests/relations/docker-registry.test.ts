import { parse } from 'smol-toml';
import {
  customRegistriesNextToRelation,
  customRegistriesStandalone,
  decodeRelationValue,
  hostsToml,
  mirrorHosts,
  providerUnitData,
  type RegistryEndpointInfo,
} from '../../src/relations/docker-registry.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const full: RegistryEndpointInfo = { netloc: '10.0.0.7:5000', tls: true, caPem: CA, auth: { user: 'puller', password: 'Zx9_-abc' } };

describe('providerUnitData', () => {
  test('every value is JSON, and decodes to what the requirer expects', () => {
    const data = providerUnitData(full, ['rocks.canonical.com', 'rocks.canonical.com:443']);
    expect(data.registry_netloc).toBe('"10.0.0.7:5000"');
    expect(data.registry_url).toBe('"https://10.0.0.7:5000"');
    const decoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, decodeRelationValue(v)]));
    expect(decoded).toEqual({
      registry_netloc: '10.0.0.7:5000',
      registry_url: 'https://10.0.0.7:5000',
      basic_user: 'puller',
      basic_password: 'Zx9_-abc',
      tls_ca: CA,
      mirrors: ['rocks.canonical.com', 'rocks.canonical.com:443'],
      custom_registries: JSON.stringify([
        { host: 'rocks.canonical.com', url: '10.0.0.7:5000' },
        { host: 'rocks.canonical.com:443', url: '10.0.0.7:5000' },
      ]),
    });
    // custom_registries decodes to the string `juju config containerd custom_registries=` takes.
    expect(JSON.parse(decoded.custom_registries as string)).toHaveLength(2);
  });

  test('no auth and no TLS publish null, and an http url', () => {
    const data = providerUnitData({ netloc: 'reg.example:5000', tls: false }, []);
    expect(data).toMatchObject({ basic_user: 'null', basic_password: 'null', tls_ca: 'null', registry_url: '"http://reg.example:5000"' });
    expect(decodeRelationValue(data.basic_user!)).toBeNull();
    expect(decodeRelationValue(data.custom_registries!)).toBe('[]');
  });

  test('refuses a netloc with a scheme and credentials containerd cannot carry', () => {
    expect(() => providerUnitData({ ...full, netloc: 'https://10.0.0.7:5000' }, [])).toThrow(/without a scheme/);
    expect(() => providerUnitData({ ...full, auth: { user: 'u', password: 'a"b' } }, [])).toThrow(/auth-basic-password/);
  });
});

describe('decodeRelationValue', () => {
  test('JSON when it parses, the raw string otherwise', () => {
    expect(decodeRelationValue('"10.0.0.7:5000"')).toBe('10.0.0.7:5000');
    expect(decodeRelationValue('10.0.0.7:5000')).toBe('10.0.0.7:5000');
    expect(decodeRelationValue('null')).toBeNull();
    expect(decodeRelationValue('["a"]')).toEqual(['a']);
    const pem = '-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n';
    expect(decodeRelationValue(JSON.stringify(pem))).toBe(pem);
  });
});

describe('mirrorHosts', () => {
  test('both spellings of hosts on the default port; other ports as given', () => {
    expect(mirrorHosts(['rocks.canonical.com'])).toEqual(['rocks.canonical.com', 'rocks.canonical.com:443']);
    expect(mirrorHosts(['rocks.canonical.com:443'])).toEqual(['rocks.canonical.com', 'rocks.canonical.com:443']);
    expect(mirrorHosts(['harbor.corp:8443'])).toEqual(['harbor.corp:8443']);
  });
  test('Docker Hub is docker.io only, whatever it was called', () => {
    expect(mirrorHosts(['docker.io', 'index.docker.io', 'Docker.IO'])).toEqual(['docker.io']);
  });
  test('sorted, deduplicated, scheme and path dropped', () => {
    expect(mirrorHosts(['quay.io', 'https://ghcr.io/', 'quay.io:443', 'registry.k8s.io/pause'])).toEqual([
      'ghcr.io', 'ghcr.io:443', 'quay.io', 'quay.io:443', 'registry.k8s.io', 'registry.k8s.io:443',
    ]);
  });
  test('never the registry itself, in either spelling', () => {
    expect(mirrorHosts(['reg.example', 'quay.io'], 'reg.example:443')).toEqual(['quay.io', 'quay.io:443']);
    expect(mirrorHosts(['10.0.0.7:5000', 'quay.io:5000'], '10.0.0.7:5000')).toEqual(['quay.io:5000']);
  });
  test('a non-host is an error naming it', () => {
    expect(() => mirrorHosts(['not a host'])).toThrow(/"not a host" is not a host/);
  });
});

describe('customRegistriesNextToRelation', () => {
  test('one scheme-less entry per mirror and none for the netloc', () => {
    const entries = customRegistriesNextToRelation('reg.example:443', ['docker.io', 'reg.example', 'reg.example:443', 'quay.io']);
    expect(entries).toEqual([
      { host: 'docker.io', url: 'reg.example:443' },
      { host: 'quay.io', url: 'reg.example:443' },
    ]);
    for (const e of entries) expect(e.url).not.toMatch(/:\/\//);
  });
});

describe('customRegistriesStandalone', () => {
  test('the registry entry carries credentials and the CA; mirror entries host and url only', () => {
    const entries = customRegistriesStandalone(full, ['quay.io', '10.0.0.7:5000']);
    expect(entries).toEqual([
      { url: '10.0.0.7:5000', username: 'puller', password: 'Zx9_-abc', ca_file: Buffer.from(CA).toString('base64') },
      { host: 'quay.io', url: '10.0.0.7:5000' },
    ]);
    expect(Buffer.from(entries[0]!.ca_file as string, 'base64').toString()).toBe(CA);
  });
  test('plain HTTP: http:// urls, and credentials refused', () => {
    expect(customRegistriesStandalone({ netloc: 'localhost:5000', tls: false }, ['quay.io'])).toEqual([
      { url: 'http://localhost:5000' },
      { host: 'quay.io', url: 'http://localhost:5000' },
    ]);
    expect(() => customRegistriesStandalone({ ...full, tls: false }, [])).toThrow(/enable TLS/);
  });
});

describe('hostsToml', () => {
  test('points the upstream at the registry with our CA', () => {
    const text = hostsToml('rocks.canonical.com:443', full, '/etc/containerd/certs.d/rocks.canonical.com:443/ca.crt');
    expect(parse(text)).toEqual({
      server: 'https://rocks.canonical.com:443',
      host: { 'https://10.0.0.7:5000': { capabilities: ['pull', 'resolve'], ca: '/etc/containerd/certs.d/rocks.canonical.com:443/ca.crt' } },
    });
    expect(text).not.toContain('Zx9_-abc'); // credentials only on request
  });
  test('docker.io goes to registry-1.docker.io; plain HTTP has no ca', () => {
    expect(parse(hostsToml('docker.io', { netloc: '127.0.0.1:5000', tls: false }, '/unused'))).toEqual({
      server: 'https://registry-1.docker.io',
      host: { 'http://127.0.0.1:5000': { capabilities: ['pull', 'resolve'] } },
    });
  });
  test('every unit\'s endpoint, in the order given, each with the CA (containerd tries them in file order)', () => {
    const text = hostsToml('quay.io', full, '/ca.crt', { endpoints: ['10.0.0.7:5000', '10.0.0.8:5000', '10.0.0.7:5000'] });
    expect(parse(text)).toEqual({
      server: 'https://quay.io',
      host: {
        'https://10.0.0.7:5000': { capabilities: ['pull', 'resolve'], ca: '/ca.crt' },
        'https://10.0.0.8:5000': { capabilities: ['pull', 'resolve'], ca: '/ca.crt' },
      },
    });
    // TOML tables keep no order once parsed: the file's order is what containerd follows.
    expect(text.indexOf('"https://10.0.0.7:5000"')).toBeLessThan(text.indexOf('"https://10.0.0.8:5000"'));
    expect(() => hostsToml('quay.io', full, '/ca.crt', { endpoints: ['https://10.0.0.8:5000'] })).toThrow(/must be host:port without a scheme/);
  });
  test('an Authorization header on request', () => {
    const parsed = parse(hostsToml('quay.io', full, '/ca.crt', { authHeader: true })) as unknown as { host: Record<string, { header: { Authorization: string[] } }> };
    const header = parsed.host['https://10.0.0.7:5000']!.header.Authorization[0]!;
    expect(Buffer.from(header.replace(/^Basic /, ''), 'base64').toString()).toBe('puller:Zx9_-abc');
  });
});
