// Our k8s-custom-registries value through Canonical Kubernetes' validator and hosts.d renderer
// (ported in tests/relations/k8s-containerd.ts), and the port itself against values the k8s
// charm refuses.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { mirrorHosts, type RegistryEndpointInfo } from '../../src/relations/docker-registry.js';
import { k8sCustomRegistries, k8sCustomRegistriesValue } from '../../src/relations/k8s-registries.js';
import {
  K8sRegistriesError,
  applyK8sCustomRegistries,
  parseK8sRegistries,
  pythonB64decodeText,
  tomliWDumps,
} from './k8s-containerd.js';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const NETLOC = '10.0.0.7:5000';
const info: RegistryEndpointInfo = { netloc: NETLOC, tls: true, caPem: CA, auth: { user: 'puller', password: 'Zx9_-abc' } };
const MIRRORS = mirrorHosts(['registry.k8s.io', 'ghcr.io', 'docker.io', 'rocks.canonical.com:443'], NETLOC);
const b64 = (s: string) => Buffer.from(s).toString('base64');

let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'k8s-hostsd-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('k8sCustomRegistries', () => {
  test('one entry for the netloc, then one per mirrored host, each with https url, CA and credentials', () => {
    const value = k8sCustomRegistries(info, MIRRORS);
    expect(value.map((e) => e.host)).toEqual([
      NETLOC, 'docker.io', 'ghcr.io', 'ghcr.io:443', 'registry.k8s.io', 'registry.k8s.io:443', 'rocks.canonical.com', 'rocks.canonical.com:443',
    ]);
    for (const e of value) expect(e).toEqual({ host: e.host, url: `https://${NETLOC}`, ca_file: b64(CA), username: 'puller', password: 'Zx9_-abc' });
  });

  test('without auth no credentials; plain HTTP: http url and no CA', () => {
    expect(k8sCustomRegistries({ ...info, auth: undefined }, ['docker.io'])).toEqual([
      { host: NETLOC, url: `https://${NETLOC}`, ca_file: b64(CA) },
      { host: 'docker.io', url: `https://${NETLOC}`, ca_file: b64(CA) },
    ]);
    expect(k8sCustomRegistries({ netloc: NETLOC, tls: false }, ['docker.io'])).toEqual([
      { host: NETLOC, url: `http://${NETLOC}` },
      { host: 'docker.io', url: `http://${NETLOC}` },
    ]);
  });

  test('the netloc is never a mirror of itself and duplicates collapse', () => {
    const value = k8sCustomRegistries({ netloc: 'reg.example:443', tls: true, caPem: CA }, ['reg.example', 'reg.example:443', 'quay.io', 'quay.io']);
    expect(value.map((e) => e.host)).toEqual(['reg.example:443', 'quay.io']);
  });

  test('refuses what it cannot serve: bad netloc, bad credentials, TLS without the CA', () => {
    expect(() => k8sCustomRegistries({ ...info, netloc: 'https://x:1' }, [])).toThrow(/host:port without a scheme/);
    expect(() => k8sCustomRegistries({ ...info, auth: { user: 'a:b', password: 'x' } }, [])).toThrow(/auth-basic-user/);
    expect(() => k8sCustomRegistries({ ...info, caPem: undefined }, [])).toThrow(/CA is not on this unit yet/);
  });

  test('the option text survives PyYAML: characters it refuses or folds are escaped', () => {
    const password = 'p\u0090ss\u0085w\u2028rd\u00e9\u{1F600}';
    const odd = { ...info, auth: { user: 'puller', password } };
    expect(() => parseK8sRegistries(JSON.stringify(k8sCustomRegistries(odd, [])))).toThrow(/unacceptable character #x0090/);
    const value = k8sCustomRegistriesValue(odd, ['docker.io']);
    expect(JSON.parse(value)).toEqual(k8sCustomRegistries(odd, ['docker.io']));
    for (const release of ['current', 'legacy'] as const) {
      expect(parseK8sRegistries(value, release).map((r) => r.password)).toEqual([password, password]);
    }
  });

  test.each(['current', 'legacy'] as const)('the %s k8s charm accepts it and keys every entry by the host we give', (release) => {
    for (const i of [info, { ...info, auth: undefined }, { netloc: NETLOC, tls: false }, { netloc: '[fd00::7]:5000', tls: true, caPem: CA }]) {
      const value = k8sCustomRegistries(i, MIRRORS);
      const parsed = parseK8sRegistries(JSON.stringify(value), release);
      expect(parsed.map((r) => r.host)).toEqual(value.map((e) => e.host));
      if (i.tls) for (const r of parsed) expect(r.ca_file).toBe(CA);
    }
  });
});

describe('the k8s charm renders our value into hosts.d', () => {
  test('one hosts.toml per host, ca.crt beside it, basic auth as a fixed header, all 0600', () => {
    const value = JSON.stringify(k8sCustomRegistries(info, MIRRORS));
    applyK8sCustomRegistries(value, tmp);
    expect(fs.readdirSync(tmp).sort()).toEqual([NETLOC, ...MIRRORS].sort());
    const dir = path.join(tmp, 'docker.io');
    expect(fs.readdirSync(dir).sort()).toEqual(['ca.crt', 'hosts.toml']);
    const text = fs.readFileSync(path.join(dir, 'hosts.toml'), 'utf8');
    const auth = `Basic ${b64('puller:Zx9_-abc')}`;
    // tomli_w's layout, byte for byte.
    expect(text).toBe(
      `server = "https://${NETLOC}"\n\n[host."https://${NETLOC}"]\ncapabilities = [\n    "pull",\n    "resolve",\n]\nca = "${dir}/ca.crt"\n\n[host."https://${NETLOC}".header]\nAuthorization = "${auth}"\n`,
    );
    expect(parseToml(text)).toEqual({ server: `https://${NETLOC}`, host: { [`https://${NETLOC}`]: { capabilities: ['pull', 'resolve'], ca: `${dir}/ca.crt`, header: { Authorization: auth } } } });
    expect(fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8')).toBe(CA);
    for (const f of ['ca.crt', 'hosts.toml']) expect(fs.statSync(path.join(dir, f)).mode & 0o777).toBe(0o600);
  });

  test('hosts it does not manage go; a second run without auth drops the header', () => {
    fs.mkdirSync(path.join(tmp, 'quay.io'));
    fs.writeFileSync(path.join(tmp, 'quay.io', 'hosts.toml'), 'server = "https://quay.io"\n');
    applyK8sCustomRegistries(JSON.stringify(k8sCustomRegistries(info, ['docker.io'])), tmp);
    expect(fs.readdirSync(tmp).sort()).toEqual(['docker.io', NETLOC].sort());
    applyK8sCustomRegistries(JSON.stringify(k8sCustomRegistries({ ...info, auth: undefined }, ['docker.io'])), tmp);
    expect(fs.readFileSync(path.join(tmp, 'docker.io', 'hosts.toml'), 'utf8')).not.toContain('Authorization');
    // The legacy release removes only the hosts.toml.
    fs.mkdirSync(path.join(tmp, 'quay.io'));
    fs.writeFileSync(path.join(tmp, 'quay.io', 'hosts.toml'), '');
    fs.writeFileSync(path.join(tmp, 'quay.io', 'ca.crt'), '');
    applyK8sCustomRegistries('[]', tmp, 'legacy');
    expect(fs.readdirSync(path.join(tmp, 'quay.io'))).toEqual(['ca.crt']);
    expect(fs.existsSync(path.join(tmp, 'docker.io', 'hosts.toml'))).toBe(false);
  });

  test('the default host differs by release: current keeps the port, legacy drops it', () => {
    const value = JSON.stringify([{ url: 'https://10.0.0.7:5000' }]);
    expect(parseK8sRegistries(value, 'current')[0]!.host).toBe('10.0.0.7:5000');
    expect(parseK8sRegistries(value, 'legacy')[0]!.host).toBe('10.0.0.7');
  });

  test('client cert/key, skip_verify, override_path and a bearer token render as the charm does', () => {
    const value = JSON.stringify([{ url: 'https://r:1', host: 'r', cert_file: b64('C'), key_file: b64('K'), skip_verify: 'yes', override_path: 1, identitytoken: 'tok' }]);
    const [r] = applyK8sCustomRegistries(value, tmp);
    expect(r).toMatchObject({ skip_verify: true, override_path: true, cert_file: 'C', key_file: 'K' });
    expect(fs.readdirSync(path.join(tmp, 'r')).sort()).toEqual(['client.crt', 'client.key', 'hosts.toml']);
    const doc = parseToml(fs.readFileSync(path.join(tmp, 'r', 'hosts.toml'), 'utf8')) as any;
    expect(doc.host['https://r:1']).toEqual({
      capabilities: ['pull', 'resolve'],
      client: [[`${tmp}/r/client.crt`, `${tmp}/r/client.key`]],
      skip_verify: true,
      override_path: true,
      header: { Authorization: 'Bearer tok' },
    });
  });
});

describe('the validator port refuses what the k8s charm refuses', () => {
  const ok = { url: 'https://10.0.0.7:5000', host: 'docker.io' };
  test.each<[string, string, RegExp]>([
    ['an unknown key', JSON.stringify([{ ...ok, insecure_skip_verify: true }]), /insecure_skip_verify: Extra inputs are not permitted/],
    ['a legacy containerd-charm key', JSON.stringify([{ ...ok, ca: 'x' }]), /0\.ca: Extra inputs/],
    ['no url', JSON.stringify([{ host: 'docker.io' }]), /0\.url: Field required/],
    ['a scheme-less IP url (what the containerd charm takes)', JSON.stringify([{ url: '10.0.0.7:5000' }]), /0\.url: Input should be a valid URL, relative URL without a base/],
    ['a scheme-less name url', JSON.stringify([{ url: 'registry.test:5000' }]), /0\.url: URL scheme should be 'http' or 'https'/],
    ['a bare host url', JSON.stringify([{ url: 'registry.example' }]), /0\.url: Input should be a valid URL/],
    ['an ftp url', JSON.stringify([{ url: 'ftp://x' }]), /URL scheme/],
    ['a url that is not a string', JSON.stringify([{ url: 5000 }]), /0\.url: Input should be a valid string/],
    ['a duplicate host', JSON.stringify([ok, { url: 'https://other:1', host: 'docker.io' }]), /duplicate host definitions: docker.io/],
    ['a duplicate defaulted host', JSON.stringify([{ url: 'https://a:1' }, { url: 'http://a:1/x' }]), /duplicate host definitions: a:1/],
    ['bad base64 ca_file', JSON.stringify([{ ...ok, ca_file: 'QUJDR' }]), /0\.ca_file: Value error, Invalid base64/],
    ['unpadded base64 ca_file', JSON.stringify([{ ...ok, ca_file: 'QUJDRA' }]), /Incorrect padding/],
    ['ca_file that is not UTF-8', JSON.stringify([{ ...ok, ca_file: Buffer.from([0xff, 0xfe]).toString('base64') }]), /codec can't decode/],
    ['a null ca_file', JSON.stringify([{ ...ok, ca_file: null }]), /AttributeError/],
    ['skip_verify that is not a bool', JSON.stringify([{ ...ok, skip_verify: 'maybe' }]), /skip_verify: Input should be a valid boolean/],
    ['a number password', JSON.stringify([{ ...ok, username: 'u', password: 1234 }]), /0\.password: Input should be a valid string/],
    ['an object, not a list', JSON.stringify(ok), /Input should be a valid list/],
    ['a list of strings', JSON.stringify(['https://x']), /0: Input should be a valid dictionary/],
    ['not YAML', '[{url: ', /not valid YAML/],
    ['null', 'null', /Input should be a valid list/],
  ])('%s', (_what, value, message) => {
    expect(() => parseK8sRegistries(value)).toThrow(K8sRegistriesError);
    expect(() => parseK8sRegistries(value)).toThrow(message);
  });

  test('and accepts what it accepts: YAML, empty, lax bools, base64 with line breaks, null credentials', () => {
    expect(parseK8sRegistries('')).toEqual([]);
    expect(parseK8sRegistries('[]')).toEqual([]);
    expect(parseK8sRegistries('- url: http://r:5000\n  skip_verify: on\n')).toEqual([{ url: 'http://r:5000', host: 'r:5000', skip_verify: true }]);
    const wrapped = b64(CA).replace(/(.{20})/g, '$1\n');
    expect(parseK8sRegistries(JSON.stringify([{ url: 'https://r', ca_file: wrapped, username: null }]))).toEqual([{ url: 'https://r', host: 'r', ca_file: CA }]);
    expect(() => parseK8sRegistries('{"a": 1}', 'legacy')).toThrow(/valid list/);
    expect(() => parseK8sRegistries('- url: http://r', 'legacy')).toThrow(/not valid JSON/);
  });

  test('python base64 and tomli_w details', () => {
    expect(pythonB64decodeText('QUJD', 'x')).toBe('ABC');
    expect(pythonB64decodeText('QU=JD', 'x')).toBe('ABC'); // a pad inside a quad is skipped
    expect(pythonB64decodeText('QQ==garbage', 'x')).toBe('A'); // decoding stops at a complete pad
    expect(tomliWDumps({ a: 'q"\\\n\t', b: { 'c.d': { e: false } } })).toBe('a = "q\\"\\\\\\n\t"\n\n[b."c.d"]\ne = false\n');
  });
});
