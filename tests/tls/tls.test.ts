import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  createCa,
  decodeBase64Pem,
  defaultOpensslRun,
  inspectCert,
  issueServerCert,
  needsRenewal,
  normalizeIp,
  csrNamesFrom,
  sansFor,
  validateUserMaterial,
  type OpensslRun,
  type Pem,
} from '../../src/tls/index.js';

const DAY = 24 * 3600 * 1000;
let ca: Pem;
let server: Pem;
const argvSeen: string[][] = [];
const keyFileModes: number[] = [];
const keyFilesUsed: string[] = [];

// Records every openssl argv and the mode of each key file it is handed, then runs openssl.
const spyRun: OpensslRun = async (args, opts) => {
  argvSeen.push([...args]);
  for (const flag of ['-key', '-CAkey']) {
    const i = args.indexOf(flag);
    if (i >= 0) {
      keyFilesUsed.push(args[i + 1]!);
      keyFileModes.push(fs.statSync(args[i + 1]!).mode & 0o777);
    }
  }
  return defaultOpensslRun(args, opts);
};

beforeAll(async () => {
  ca = await createCa({ commonName: 'offline-registry test CA' }, { run: spyRun });
  server = await issueServerCert(
    ca,
    { commonName: 'registry', dnsNames: ['registry.example', 'localhost'], ipAddresses: ['127.0.0.1', '::1', '10.0.0.7'] },
    { run: spyRun },
  );
});

function keyBody(pem: string): string[] {
  return pem.split('\n').filter((l) => l && !l.startsWith('-----'));
}

describe('createCa / issueServerCert', () => {
  test('the CA is a CA, self-issued, and the server certificate carries exactly the given SANs', async () => {
    const caInfo = await inspectCert(ca.cert);
    expect(caInfo.subject).toBe('CN=offline-registry test CA');
    expect(caInfo.issuer).toBe(caInfo.subject);
    const info = await inspectCert(server.cert);
    expect(info.subject).toBe('CN=registry');
    expect(info.issuer).toBe('CN=offline-registry test CA');
    expect(info.dnsNames).toEqual(['registry.example', 'localhost']);
    expect(info.ipAddresses).toEqual(['127.0.0.1', '::1', '10.0.0.7']);
    expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const days = (info.notAfter.getTime() - Date.now()) / DAY;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThan(366);
  });

  test('openssl reports CA:TRUE with keyCertSign for the CA, serverAuth and CA:FALSE for the server', async () => {
    const caText = await defaultOpensslRun(['x509', '-noout', '-text'], { input: ca.cert });
    expect(caText).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    const serverText = await defaultOpensslRun(['x509', '-noout', '-text'], { input: server.cert });
    expect(serverText).toMatch(/CA:FALSE/);
    expect(serverText).toMatch(/TLS Web Server Authentication/);
    expect(await validateUserMaterial({ cert: server.cert, key: server.key, ca: ca.cert })).toBeNull();
  });

  test('no private key ever appears in an openssl argv; key files are 0600 and gone afterwards', () => {
    expect(argvSeen.length).toBeGreaterThanOrEqual(5);
    const allArgs = argvSeen.flat().join('\n');
    expect(allArgs).not.toMatch(/PRIVATE KEY|pass:|-passin|-passout/);
    for (const line of [...keyBody(ca.key), ...keyBody(server.key)]) expect(allArgs).not.toContain(line);
    expect(keyFileModes.length).toBeGreaterThanOrEqual(3);
    for (const mode of keyFileModes) expect(mode).toBe(0o600);
    for (const file of keyFilesUsed) expect(fs.existsSync(path.dirname(file))).toBe(false);
  });

  test('bad inputs are refused before openssl runs', async () => {
    await expect(createCa({ commonName: 'evil\n[section]' })).rejects.toThrow(/common name/);
    await expect(issueServerCert(ca, { commonName: 'x', dnsNames: ['bad name'], ipAddresses: [] })).rejects.toThrow(/not a valid DNS name/);
    await expect(issueServerCert(ca, { commonName: 'x', dnsNames: [], ipAddresses: [] })).rejects.toThrow(/at least one/);
  });
});

describe('validateUserMaterial', () => {
  test('a key from another pair is blamed on tls-key', async () => {
    const other = await issueServerCert(ca, { commonName: 'other', dnsNames: ['other.example'], ipAddresses: [] });
    const problem = await validateUserMaterial({ cert: server.cert, key: other.key, ca: ca.cert });
    expect(problem?.option).toBe('tls-key');
    expect(problem?.message).toMatch(/does not match tls-cert/);
  });

  test('a certificate not signed by the given CA is blamed on tls-ca', async () => {
    const otherCa = await createCa({ commonName: 'someone else' });
    const problem = await validateUserMaterial({ cert: server.cert, key: server.key, ca: otherCa.cert });
    expect(problem?.option).toBe('tls-ca');
    expect(problem?.message).toMatch(/does not verify against tls-ca/);
  });

  test('parse errors name the option at fault', async () => {
    expect((await validateUserMaterial({ cert: 'junk', key: server.key }))?.option).toBe('tls-cert');
    const broken = server.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!');
    expect((await validateUserMaterial({ cert: broken, key: server.key }))?.option).toBe('tls-cert');
    expect((await validateUserMaterial({ cert: server.cert, key: 'junk' }))?.option).toBe('tls-key');
    expect((await validateUserMaterial({ cert: server.cert, key: server.key, ca: 'junk' }))?.option).toBe('tls-ca');
  });

  test('an encrypted key is refused on tls-key with how to decrypt it', async () => {
    const encrypted = createPrivateKey(server.key).export({
      type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret',
    }) as string;
    const problem = await validateUserMaterial({ cert: server.cert, key: encrypted, ca: ca.cert });
    expect(problem).toEqual({ option: 'tls-key', message: expect.stringMatching(/encrypted/) });
  });

  test('an expired certificate is blamed on tls-cert; the CA certificate as tls-cert too', async () => {
    const info = await inspectCert(server.cert);
    const later = new Date(info.notAfter.getTime() + DAY);
    expect((await validateUserMaterial({ cert: server.cert, key: server.key, ca: ca.cert, now: later }))?.message).toMatch(/expired/);
    expect((await validateUserMaterial({ cert: ca.cert, key: ca.key }))?.option).toBe('tls-cert');
  });

  test('leaf + intermediate in tls-cert verify against the root; the intermediate alone is enough as tls-ca', async () => {
    // Build root -> intermediate -> leaf with openssl directly (the module only makes one level).
    const root = await createCa({ commonName: 'test root' });
    const dir = fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'tls-chain-'));
    try {
      const w = (n: string, c: string) => (fs.writeFileSync(path.join(dir, n), c, { mode: 0o600 }), path.join(dir, n));
      const interKey = await defaultOpensslRun(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      const cnf = w('i.cnf', '[req]\nprompt=no\ndistinguished_name=dn\n[dn]\nCN=test intermediate\n[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
      const csr = await defaultOpensslRun(['req', '-new', '-config', cnf, '-key', w('i.key', interKey)]);
      const interCert = await defaultOpensslRun([
        'x509', '-req', '-in', w('i.csr', csr), '-CA', w('r.crt', root.cert), '-CAkey', w('r.key', root.key),
        '-set_serial', '7', '-days', '30', '-extfile', cnf, '-extensions', 'ext',
      ]);
      const leaf = await issueServerCert({ cert: interCert, key: interKey }, { commonName: 'leaf', dnsNames: ['leaf.example'], ipAddresses: [] });
      expect(await validateUserMaterial({ cert: leaf.cert + interCert, key: leaf.key, ca: root.cert })).toBeNull();
      expect(await validateUserMaterial({ cert: leaf.cert, key: leaf.key, ca: interCert })).toBeNull();
      expect((await validateUserMaterial({ cert: leaf.cert, key: leaf.key, ca: root.cert }))?.option).toBe('tls-ca');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('sansFor', () => {
  test('classifies, normalises and dedupes; always has localhost and loopback', () => {
    const sans = sansFor({
      ingressAddresses: ['10.0.0.7', '2001:DB8:0:0:0:0:0:1', '10.0.0.7'],
      httpHost: 'Registry.Example:5000',
      hostname: 'juju-abc-0',
      fqdn: 'juju-abc-0.maas.',
      extra: ['extra.example, 192.168.1.10  *.apps.example', '2001:db8::1'],
    });
    expect(sans.dnsNames).toEqual(['registry.example', 'juju-abc-0', 'juju-abc-0.maas', 'extra.example', '*.apps.example', 'localhost']);
    expect(sans.ipAddresses).toEqual(['10.0.0.7', '2001:db8::1', '192.168.1.10', '127.0.0.1', '::1']);
  });

  test('a CSR asks for the configured names and the addresses, not the bare hostname or loopback (Vault signs only subdomains of its common_name)', () => {
    const input = {
      ingressAddresses: ['10.0.0.7'],
      httpHost: 'registry.cluster.example',
      hostname: 'juju-abc-0',
      fqdn: 'juju-abc-0.maas',
      extra: ['mirror.cluster.example 192.168.1.10'],
    };
    expect(csrNamesFrom(sansFor(input), input)).toEqual({
      commonName: 'registry.cluster.example',
      dnsNames: ['registry.cluster.example', 'mirror.cluster.example'],
      ipAddresses: ['10.0.0.7', '192.168.1.10'],
    });
    // Nothing configured: the machine's own names are all there is.
    const bare = { ingressAddresses: ['10.0.0.7'], hostname: 'juju-abc-0', fqdn: 'juju-abc-0.maas', extra: [] };
    expect(csrNamesFrom(sansFor(bare), bare)).toEqual({ commonName: 'juju-abc-0', dnsNames: ['juju-abc-0', 'juju-abc-0.maas'], ipAddresses: ['10.0.0.7'] });
    // A loopback ingress address (a single-machine test bed) is what clients use: kept.
    const loop = { ingressAddresses: ['127.0.0.1'], hostname: 'h', extra: [] };
    expect(csrNamesFrom(sansFor(loop), loop).ipAddresses).toEqual(['127.0.0.1']);
  });

  test('a bad tls-sans entry is an error naming tls-sans', () => {
    expect(() => sansFor({ ingressAddresses: [], hostname: 'h', extra: ['ok.example bad_name!'] })).toThrow(/tls-sans/);
  });

  test('normalizeIp gives RFC 5952 spelling', () => {
    expect(normalizeIp('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(normalizeIp('2001:0db8:0000:0000:0001:0000:0000:0001')).toBe('2001:db8::1:0:0:1');
    expect(normalizeIp('::ffff:10.0.0.1')).toBe('::ffff:a00:1');
    expect(normalizeIp('[fe80::1]')).toBe('fe80::1');
    expect(normalizeIp('10.0.0.1')).toBe('10.0.0.1');
  });
});

describe('needsRenewal', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const wanted = { dnsNames: ['a.example', 'localhost'], ipAddresses: ['127.0.0.1', '::1'] };
  const cert = (daysLeft: number, over: Partial<typeof wanted> = {}) => ({
    notAfter: new Date(now.getTime() + daysLeft * DAY),
    ...wanted,
    ...over,
  });

  test('same SANs in another order and plenty of time: no renewal', () => {
    expect(needsRenewal(cert(200, { dnsNames: ['localhost', 'A.example'], ipAddresses: ['0:0:0:0:0:0:0:1', '127.0.0.1'] }), wanted, now)).toBe(false);
  });
  test('near expiry (inside 30 days, or a custom window)', () => {
    expect(needsRenewal(cert(29), wanted, now)).toBe(true);
    expect(needsRenewal(cert(31), wanted, now)).toBe(false);
    expect(needsRenewal(cert(31), wanted, now, 60)).toBe(true);
  });
  test('a SAN added or removed', () => {
    expect(needsRenewal(cert(200, { ipAddresses: ['127.0.0.1'] }), wanted, now)).toBe(true);
    expect(needsRenewal(cert(200, { dnsNames: [...wanted.dnsNames, 'old.example'] }), wanted, now)).toBe(true);
  });
  test('on a real certificate inspected from PEM', async () => {
    const info = await inspectCert(server.cert);
    const same = { dnsNames: ['localhost', 'registry.example'], ipAddresses: ['10.0.0.7', '127.0.0.1', '::1'] };
    expect(needsRenewal(info, same, new Date())).toBe(false);
    expect(needsRenewal(info, { ...same, ipAddresses: [...same.ipAddresses, '10.0.0.8'] }, new Date())).toBe(true);
    expect(needsRenewal(info, same, new Date(info.notAfter.getTime() - 10 * DAY))).toBe(true);
  });
});

describe('decodeBase64Pem', () => {
  test('base64 of a PEM, with or without line breaks, and raw PEM give the PEM', () => {
    const b64 = Buffer.from(ca.cert).toString('base64');
    expect(decodeBase64Pem(b64, 'tls-ca')).toBe(ca.cert);
    expect(decodeBase64Pem(b64.replace(/(.{76})/g, '$1\n'), 'tls-ca')).toBe(ca.cert);
    expect(decodeBase64Pem(ca.cert, 'tls-ca')).toBe(ca.cert);
  });
  test('anything else is an error naming the option', () => {
    expect(() => decodeBase64Pem('not base64 at all!', 'tls-cert')).toThrow(/^tls-cert is neither PEM nor base64/);
    expect(() => decodeBase64Pem(Buffer.from('hello').toString('base64'), 'tls-key')).toThrow(/^tls-key decodes from base64 but holds no PEM/);
    expect(() => decodeBase64Pem('  ', 'tls-ca')).toThrow(/^tls-ca is empty/);
  });
});
