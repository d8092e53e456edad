// End to end on paper: our relation data and custom_registries, through the containerd charm's
// merge and template (reproduced in src/relations/containerd-toml.ts), parsed as TOML.
import { parse } from 'smol-toml';
import {
  CustomRegistriesError,
  mergedRegistries,
  renderContainerdRegistryConfig,
} from '../../src/relations/containerd-toml.js';
import {
  customRegistriesStandalone,
  decodeRelationValue,
  mirrorHosts,
  providerUnitData,
  type RegistryEndpointInfo,
} from '../../src/relations/docker-registry.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const info: RegistryEndpointInfo = { netloc: '10.0.0.7:5000', tls: true, caPem: CA, auth: { user: 'puller', password: 'Zx9_-abc' } };

interface CriRegistry {
  mirrors: Record<string, { endpoint: string[] }>;
  configs: Record<string, { auth?: { username: string; password: string }; tls?: Record<string, string | boolean> }>;
}

// The rendered part sits under [plugins] in the real file; parse it standalone.
function criRegistry(text: string): CriRegistry {
  const doc = parse(text) as unknown as { plugins: Record<string, { registry: CriRegistry }> };
  return doc.plugins['io.containerd.grpc.v1.cri']!.registry;
}

describe('relation + custom_registries as we publish them', () => {
  const mirrors = mirrorHosts(['rocks.canonical.com:443', 'docker.io', 'quay.io', 'registry.k8s.io']);
  const relationData = providerUnitData(info, mirrors);
  const customRegistries = decodeRelationValue(relationData.custom_registries!) as string;

  test('renders valid TOML: no duplicate table, every mirror to the registry, one auth and TLS for the netloc', () => {
    const text = renderContainerdRegistryConfig(customRegistries, { relationData });
    const reg = criRegistry(text); // throws on a duplicate table
    expect(Object.keys(reg.mirrors).sort()).toEqual([...mirrors, '10.0.0.7:5000'].sort());
    for (const m of Object.values(reg.mirrors)) expect(m.endpoint).toEqual(['10.0.0.7:5000']);
    expect(Object.keys(reg.configs)).toEqual(['10.0.0.7:5000']);
    expect(reg.configs['10.0.0.7:5000']).toEqual({
      auth: { username: 'puller', password: 'Zx9_-abc' },
      tls: { ca_file: '/root/cdk/ca.crt', cert_file: '/root/cdk/server.crt', key_file: '/root/cdk/server.key', insecure_skip_verify: false },
    });
  });

  test('our docker.io mirror replaces the charm default instead of doubling it', () => {
    const merged = mergedRegistries(customRegistries, { relationData });
    expect(merged.filter((r) => r.host === 'docker.io')).toEqual([{ host: 'docker.io', url: '10.0.0.7:5000' }]);
    expect(merged[merged.length - 1]).toMatchObject({ host: '10.0.0.7:5000', url: '10.0.0.7:5000', username: 'puller' });
  });

  test('without custom_registries the charm keeps Docker Hub and adds the relation entry', () => {
    const reg = criRegistry(renderContainerdRegistryConfig('[]', { relationData }));
    expect(reg.mirrors).toEqual({
      'docker.io': { endpoint: ['https://registry-1.docker.io'] },
      '10.0.0.7:5000': { endpoint: ['10.0.0.7:5000'] },
    });
  });

  test('relation data without TLS or auth renders no configs tables', () => {
    const plain = providerUnitData({ netloc: '10.0.0.7:5000', tls: false }, []);
    expect(criRegistry(renderContainerdRegistryConfig('[]', { relationData: plain })).configs).toEqual({});
  });
});

describe('the pitfalls our data avoids, reproduced', () => {
  const relationData = providerUnitData(info, []);

  test('an entry for the netloc itself next to the relation duplicates mirrors."<netloc>": invalid TOML', () => {
    const text = renderContainerdRegistryConfig(JSON.stringify([{ url: '10.0.0.7:5000' }]), { relationData });
    expect(() => parse(text)).toThrow();
  });

  test('mirror entries that repeat credentials duplicate configs."<netloc>".auth: invalid TOML', () => {
    const repeated = JSON.stringify([{ host: 'quay.io', url: '10.0.0.7:5000', username: 'puller', password: 'Zx9_-abc' }]);
    expect(() => parse(renderContainerdRegistryConfig(repeated, { relationData }))).toThrow();
  });

  test('a " in the password breaks the config, which is why validatePassword refuses it', () => {
    const data = { ...relationData, basic_password: JSON.stringify('pa"ss') };
    expect(() => parse(renderContainerdRegistryConfig('[]', { relationData: data }))).toThrow();
  });

  test('a url with a scheme keys configs by "https://..." which containerd never looks up', () => {
    const text = renderContainerdRegistryConfig(JSON.stringify([{ url: 'https://10.0.0.8:5000', username: 'u', password: 'p' }]));
    expect(Object.keys(criRegistry(text).configs)).toEqual(['https://10.0.0.8:5000']);
  });
});

describe('standalone custom_registries (no relation)', () => {
  test('valid TOML; the CA is written as a file and auth+TLS are keyed by the netloc', () => {
    const custom = JSON.stringify(customRegistriesStandalone(info, mirrorHosts(['quay.io', 'docker.io'])));
    const reg = criRegistry(renderContainerdRegistryConfig(custom, { configDirectory: '/etc/containerd' }));
    expect(reg.mirrors['quay.io:443']).toEqual({ endpoint: ['10.0.0.7:5000'] });
    expect(reg.mirrors['docker.io']).toEqual({ endpoint: ['10.0.0.7:5000'] });
    expect(reg.configs).toEqual({
      '10.0.0.7:5000': {
        auth: { username: 'puller', password: 'Zx9_-abc' },
        tls: { ca_file: '/etc/containerd/10.0.0.7:5000.ca', cert_file: '', key_file: '', insecure_skip_verify: false },
      },
    });
  });
});

describe('the charm refuses bad custom_registries (unit blocked)', () => {
  test.each([
    ['not json', /Failed to decode json/],
    ['{}', /not a list/],
    ['[{"host": "a"}]', /missing required field 'url'/],
    ['[{"url": "a", "bogus": 1}]', /field bogus may not be specified/],
    ['[{"url": "a", "insecure_skip_verify": "yes"}]', /insecure_skip_verify/],
    ['[{"url": "https://a"}, {"url": "a"}]', /defines a more than once/],
  ])('%s', (value, message) => {
    expect(() => renderContainerdRegistryConfig(value)).toThrow(CustomRegistriesError);
    expect(() => renderContainerdRegistryConfig(value)).toThrow(message);
  });
});

test('output matches the charm template line for line (checked against Jinja2 rendering of config_v2.toml)', () => {
  const text = renderContainerdRegistryConfig(JSON.stringify([{ host: 'quay.io', url: '10.0.0.7:5000' }, { url: 'x.example', insecure_skip_verify: true }]), {
    relationData: providerUnitData({ netloc: '10.0.0.7:5000', tls: true, caPem: CA, auth: { user: 'u', password: 'p' } }, []),
  });
  const P = '[plugins."io.containerd.grpc.v1.cri".registry';
  expect(text).toBe(
    [
      `    ${P}]`,
      `      ${P}.mirrors]`,
      `        ${P}.mirrors."docker.io"]`,
      '          endpoint = ["https://registry-1.docker.io"]',
      `        ${P}.mirrors."quay.io"]`,
      '          endpoint = ["10.0.0.7:5000"]',
      `        ${P}.mirrors."x.example"]`,
      '          endpoint = ["x.example"]',
      `        ${P}.mirrors."10.0.0.7:5000"]`,
      '          endpoint = ["10.0.0.7:5000"]',
      `      ${P}.configs]`,
      `        ${P}.configs."10.0.0.7:5000".auth]`,
      '          username = "u"',
      '          password = "p"',
      `        ${P}.configs."x.example".tls]`,
      '          ca_file   = ""',
      '          cert_file = ""',
      '          key_file  = ""',
      '          insecure_skip_verify = true',
      `        ${P}.configs."10.0.0.7:5000".tls]`,
      '          ca_file   = "/root/cdk/ca.crt"',
      '          cert_file = "/root/cdk/server.crt"',
      '          key_file  = "/root/cdk/server.key"',
      '          insecure_skip_verify = false',
      '',
    ].join('\n'),
  );
});
