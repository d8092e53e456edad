// TLS material for the registry: a self-made CA and server certificate (generated with the
// openssl CLI), inspection and validation of certificates the operator supplies, and SAN logic.
// Private keys only ever travel through pipes or 0600 files in a private temp dir, never argv.
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';

export interface Pem {
  cert: string;
  key: string;
}

export interface CertInfo {
  notBefore: Date;
  notAfter: Date;
  dnsNames: string[];
  ipAddresses: string[];
  subject: string;
  issuer: string;
  /** SHA-256 fingerprint, colon-separated hex as openssl prints it. */
  fingerprint: string;
}

export interface SanSet {
  dnsNames: string[];
  ipAddresses: string[];
}

/** Runs `openssl <args>` and resolves to its stdout; injectable so tests can see every argv. */
export type OpensslRun = (args: string[], opts?: { input?: string }) => Promise<string>;

export interface TlsDeps {
  run?: OpensslRun;
}

export class OpensslError extends Error {
  constructor(
    readonly args: string[],
    readonly output: string,
  ) {
    super(`openssl ${args[0] ?? ''} failed: ${output.trim() || 'no output'}`);
    this.name = 'OpensslError';
  }
}

export const defaultOpensslRun: OpensslRun = async (args, opts = {}) => {
  try {
    const result = await execa('openssl', args, {
      input: opts.input ?? '',
      stripFinalNewline: false,
      timeout: 60_000,
      env: { OPENSSL_CONF: '/dev/null' }, // no surprises from a host openssl.cnf; we pass -config where needed
    });
    return result.stdout;
  } catch (err) {
    const e = err as { code?: string; stderr?: string; stdout?: string; message?: string };
    if (e.code === 'ENOENT') {
      throw new Error('openssl not found on PATH: install the openssl package (apt-get install openssl)');
    }
    throw new OpensslError(args, `${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim() || (e.message ?? ''));
  }
};

const DAY_MS = 24 * 60 * 60 * 1000;
// Characters we allow into an openssl config value: enough for app/unit names and host names,
// and none of the config syntax ($ expansion, # comments, quotes, section brackets, newlines).
const SAFE_CONFIG_VALUE = /^[A-Za-z0-9 ._:@/*-]{1,64}$/;
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?)*$/;

export async function withPrivateDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'offline-registry-tls-'));
  try {
    await fs.promises.chmod(dir, 0o700);
    return await fn(dir);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

async function writePrivate(file: string, content: string): Promise<string> {
  await fs.promises.writeFile(file, content, { mode: 0o600 });
  return file;
}

async function generateKey(run: OpensslRun): Promise<string> {
  // Without -out the key is written to stdout, i.e. our pipe.
  return run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
}

function checkCommonName(commonName: string): void {
  if (!SAFE_CONFIG_VALUE.test(commonName)) {
    throw new Error(
      `certificate common name ${JSON.stringify(commonName)} must be 1-64 characters of letters, digits, space and ._:@/*-`,
    );
  }
}

function checkDays(days: number, what: string): void {
  if (!Number.isInteger(days) || days < 1 || days > 36500) {
    throw new Error(`${what} validity must be a whole number of days between 1 and 36500, got ${days}`);
  }
}

/** A new self-signed CA: EC P-256, CA:TRUE, keyCertSign + cRLSign. */
export async function createCa(opts: { commonName: string; days?: number }, deps: TlsDeps = {}): Promise<Pem> {
  const run = deps.run ?? defaultOpensslRun;
  const days = opts.days ?? 3650;
  checkCommonName(opts.commonName);
  checkDays(days, 'CA');
  return withPrivateDir(async (dir) => {
    const key = await generateKey(run);
    const keyFile = await writePrivate(path.join(dir, 'ca.key'), key);
    const config = path.join(dir, 'ca.cnf');
    await fs.promises.writeFile(
      config,
      [
        '[req]',
        'prompt = no',
        'distinguished_name = dn',
        'x509_extensions = ca_ext',
        '[dn]',
        `CN = ${opts.commonName}`,
        '[ca_ext]',
        'basicConstraints = critical,CA:TRUE',
        'keyUsage = critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'),
    );
    const cert = await run(['req', '-new', '-x509', '-config', config, '-key', keyFile, '-sha256', '-days', String(days)]);
    return { cert, key };
  });
}

/** A server certificate signed by `ca` with exactly the given SANs and serverAuth. */
export async function issueServerCert(
  ca: Pem,
  opts: { commonName: string; dnsNames: string[]; ipAddresses: string[]; days?: number },
  deps: TlsDeps = {},
): Promise<Pem> {
  const run = deps.run ?? defaultOpensslRun;
  const days = opts.days ?? 365;
  checkCommonName(opts.commonName);
  checkDays(days, 'server certificate');
  const dnsNames = opts.dnsNames.map((n) => n.toLowerCase());
  for (const name of dnsNames) {
    if (!DNS_NAME.test(name)) throw new Error(`${JSON.stringify(name)} is not a valid DNS name for a certificate SAN`);
  }
  for (const ip of opts.ipAddresses) {
    if (!net.isIP(ip)) throw new Error(`${JSON.stringify(ip)} is not a valid IP address for a certificate SAN`);
  }
  if (dnsNames.length + opts.ipAddresses.length === 0) {
    throw new Error('a server certificate needs at least one DNS name or IP address SAN');
  }
  const alt = [
    ...dnsNames.map((n, i) => `DNS.${i + 1} = ${n}`),
    ...opts.ipAddresses.map((ip, i) => `IP.${i + 1} = ${normalizeIp(ip)}`),
  ];
  return withPrivateDir(async (dir) => {
    const caKeyFile = await writePrivate(path.join(dir, 'ca.key'), ca.key);
    const caCertFile = path.join(dir, 'ca.crt');
    await fs.promises.writeFile(caCertFile, ca.cert);
    const key = await generateKey(run);
    const keyFile = await writePrivate(path.join(dir, 'server.key'), key);
    const config = path.join(dir, 'server.cnf');
    await fs.promises.writeFile(
      config,
      [
        '[req]',
        'prompt = no',
        'distinguished_name = dn',
        '[dn]',
        `CN = ${opts.commonName}`,
        '[server_ext]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = serverAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid,issuer',
        'subjectAltName = @alt_names',
        '[alt_names]',
        ...alt,
        '',
      ].join('\n'),
    );
    const csr = await run(['req', '-new', '-config', config, '-key', keyFile, '-sha256']);
    const csrFile = path.join(dir, 'server.csr');
    await fs.promises.writeFile(csrFile, csr);
    const serial = `0x${randomBytes(16).toString('hex').replace(/^[89a-f]/, '7')}`; // positive, 128-bit
    const cert = await run([
      'x509', '-req', '-in', csrFile, '-CA', caCertFile, '-CAkey', caKeyFile,
      '-set_serial', serial, '-days', String(days), '-sha256',
      '-extfile', config, '-extensions', 'server_ext',
    ]);
    return { cert, key };
  });
}

/** The PEM blocks of one type (CERTIFICATE by default), in order. */
export function pemBlocks(text: string, type = 'CERTIFICATE'): string[] {
  const re = new RegExp(`-----BEGIN ${type}-----[\\s\\S]*?-----END ${type}-----`, 'g');
  return (text.match(re) ?? []).map((b) => `${b}\n`);
}

function parseSubjectAltName(san: string | undefined): SanSet {
  const out: SanSet = { dnsNames: [], ipAddresses: [] };
  if (!san) return out;
  // Node prints "DNS:a, IP Address:1.2.3.4"; values with special characters are JSON-quoted.
  const re = /(DNS|IP Address):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  for (const m of san.matchAll(re)) {
    const raw = m[2] ?? '';
    const value = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
    if (m[1] === 'DNS') out.dnsNames.push(value.toLowerCase());
    else out.ipAddresses.push(normalizeIp(value));
  }
  return out;
}

function infoOf(x509: X509Certificate): CertInfo {
  const sans = parseSubjectAltName(x509.subjectAltName);
  return {
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    dnsNames: sans.dnsNames,
    ipAddresses: sans.ipAddresses,
    subject: x509.subject.split('\n').join(', '),
    issuer: x509.issuer.split('\n').join(', '),
    fingerprint: x509.fingerprint256,
  };
}

/** Facts about the first certificate in `certPem`. Throws naming the problem if it is no certificate. */
export async function inspectCert(certPem: string): Promise<CertInfo> {
  const first = pemBlocks(certPem)[0];
  if (!first) throw new Error('no PEM CERTIFICATE block found');
  return infoOf(new X509Certificate(first));
}

type MaterialProblem = { option: 'tls-cert' | 'tls-key' | 'tls-ca'; message: string };

function parseCerts(text: string, option: 'tls-cert' | 'tls-ca'): X509Certificate[] | MaterialProblem {
  const blocks = pemBlocks(text);
  if (blocks.length === 0) {
    return { option, message: `${option} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the PEM file, base64-encoded` };
  }
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    return { option, message: `${option} holds a certificate that does not parse (${(err as Error).message}); give a valid PEM certificate` };
  }
}

export function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' }) as Buffer;
}

/**
 * Checks operator-supplied TLS material: every part parses, the leaf is within its validity
 * period, the key belongs to the leaf (same public key), and the leaf chains to `ca`
 * (intermediates may follow the leaf in tls-cert; `ca` may itself be an intermediate).
 * Resolves to null when all is well, else the option at fault and what to do.
 */
export async function validateUserMaterial(
  opts: { cert: string; key: string; ca?: string; now?: Date },
  deps: TlsDeps = {},
): Promise<null | MaterialProblem> {
  const run = deps.run ?? defaultOpensslRun;
  const now = opts.now ?? new Date();
  const certs = parseCerts(opts.cert, 'tls-cert');
  if (!Array.isArray(certs)) return certs;
  const leaf = certs[0]!;
  if (new Date(leaf.validTo) < now) {
    return { option: 'tls-cert', message: `tls-cert expired on ${new Date(leaf.validTo).toISOString()}; give a current certificate` };
  }
  if (new Date(leaf.validFrom) > now) {
    return { option: 'tls-cert', message: `tls-cert is not valid before ${new Date(leaf.validFrom).toISOString()}; check the clock or the certificate` };
  }
  if (leaf.ca) {
    return { option: 'tls-cert', message: 'tls-cert starts with a CA certificate; put the server certificate first (then any intermediates)' };
  }

  let key: KeyObject;
  try {
    key = createPrivateKey({ key: opts.key, format: 'pem' });
  } catch (err) {
    const msg = (err as Error).message;
    const encrypted = /passphrase|encrypted/i.test(msg) || /ENCRYPTED/.test(opts.key);
    return {
      option: 'tls-key',
      message: encrypted
        ? 'tls-key is encrypted; give the private key without a passphrase (openssl pkey -in key.pem -out plain.pem)'
        : 'tls-key is not a PEM private key; give the PEM file, base64-encoded',
    };
  }
  if (!spki(createPublicKey(key)).equals(spki(leaf.publicKey))) {
    return { option: 'tls-key', message: 'tls-key does not match tls-cert (their public keys differ); give the key the certificate was issued for' };
  }

  if (opts.ca === undefined || opts.ca.trim() === '') return null;
  const cas = parseCerts(opts.ca, 'tls-ca');
  if (!Array.isArray(cas)) return cas;
  const reason = await verifyServerChain(cas.map((c) => c.toString()), leaf.toString(), certs.slice(1).map((c) => c.toString()), now, run);
  if (reason === null) return null;
  return { option: 'tls-ca', message: `tls-cert does not verify against tls-ca (${reason}); give the CA that signed the certificate` };
}

/**
 * Why `leafPem` does not verify as a TLS server certificate at `now` against `caPems` (with
 * `intermediatePems` as untrusted intermediates), as openssl says it; null when it does.
 */
export async function verifyServerChain(caPems: string[], leafPem: string, intermediatePems: string[], now: Date, run: OpensslRun = defaultOpensslRun): Promise<string | null> {
  return withPrivateDir(async (dir) => {
    const caFile = path.join(dir, 'ca.pem');
    const leafFile = path.join(dir, 'leaf.pem');
    await fs.promises.writeFile(caFile, caPems.join(''));
    await fs.promises.writeFile(leafFile, leafPem);
    // -partial_chain: like Go's crypto/x509, a trusted intermediate is enough of an anchor.
    const args = ['verify', '-partial_chain', '-purpose', 'sslserver', '-CAfile', caFile];
    if (intermediatePems.length) {
      const chainFile = path.join(dir, 'chain.pem');
      await fs.promises.writeFile(chainFile, intermediatePems.join(''));
      args.push('-untrusted', chainFile);
    }
    args.push('-attime', String(Math.floor(now.getTime() / 1000)), leafFile);
    try {
      await run(args);
      return null;
    } catch (err) {
      if (!(err instanceof OpensslError)) throw err;
      const line = err.output.split('\n').find((l) => /error \d+ at/.test(l)) ?? err.output.split('\n')[0] ?? '';
      return line.replace(/^.*?error \d+ at \d+ depth lookup: /, '').trim();
    }
  });
}

/** Expands an IPv6 address (with optional embedded IPv4) into 8 numeric groups. */
function ipv6Groups(ip: string): number[] {
  let text = ip.toLowerCase();
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const b = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

/** The canonical spelling of an IP address (RFC 5952 for IPv6), so comparisons are exact. */
export function normalizeIp(ip: string): string {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (net.isIPv4(bare)) return bare.split('.').map((o) => String(Number(o))).join('.');
  if (!net.isIPv6(bare)) return bare;
  const groups = ipv6Groups(bare);
  // Longest run of two or more zero groups becomes "::".
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Drops a ":port" or "[v6]:port" suffix, so "host:5000" and "[::1]:5000" give their host. */
function stripPort(value: string): string {
  const bracketed = value.match(/^\[([^\]]+)\](:\d+)?$/);
  if (bracketed) return bracketed[1]!;
  const hostPort = value.match(/^([^:]+):\d+$/);
  return hostPort ? hostPort[1]! : value;
}

/**
 * The SANs a server certificate should carry: the unit's ingress addresses, the configured
 * http host, the hostname/FQDN, and the extra `tls-sans` (space or comma separated); IPs and names
 * classified, deduplicated and normalised; 127.0.0.1, ::1 and localhost always included.
 * Throws naming tls-sans when one of its entries is neither an IP address nor a DNS name.
 */
export function sansFor(input: {
  ingressAddresses: string[];
  httpHost?: string;
  hostname: string;
  fqdn?: string;
  extra: string[] | string;
}): SanSet {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const add = (raw: string, fromTlsSans: boolean) => {
    const value = stripPort(raw.trim()).replace(/\.$/, '');
    if (!value) return;
    if (net.isIP(value)) {
      const ip = normalizeIp(value);
      if (!ipAddresses.includes(ip)) ipAddresses.push(ip);
      return;
    }
    const name = value.toLowerCase();
    if (!DNS_NAME.test(name)) {
      if (fromTlsSans) {
        throw new Error(`tls-sans entry ${JSON.stringify(raw)} is neither an IP address nor a DNS name; fix the tls-sans config`);
      }
      return; // e.g. an odd system hostname: leave it out rather than fail the certificate
    }
    if (!dnsNames.includes(name)) dnsNames.push(name);
  };
  for (const a of input.ingressAddresses) add(a, false);
  if (input.httpHost) add(input.httpHost, false);
  add(input.hostname, false);
  if (input.fqdn) add(input.fqdn, false);
  const extra = typeof input.extra === 'string' ? [input.extra] : input.extra;
  for (const chunk of extra) for (const e of chunk.split(/[\s,]+/)) add(e, true);
  add('localhost', false);
  add('127.0.0.1', false);
  add('::1', false);
  return { dnsNames, ipAddresses };
}

/**
 * The names a CSR sent to a CA asks for, out of the generated certificate's `sans`: the ones clients
 * use. A CA's policy may refuse the rest: Vault's PKI role signs only subdomains of its
 * common_name (and localhost), so the machine's bare hostname would fail the whole request. So:
 * the configured DNS names (http-host, tls-sans) when there are any, else the hostname/FQDN as the
 * only name there is; the unit's addresses and the tls-sans IPs; loopback only when it is an
 * ingress address. The common name is the first DNS name.
 */
export function csrNamesFrom(
  sans: SanSet,
  input: { ingressAddresses: string[]; httpHost?: string; hostname: string; fqdn?: string; extra: string[] | string },
): SanSet & { commonName: string } {
  const machine = new Set([input.hostname, input.fqdn].filter((n): n is string => Boolean(n)).map((n) => n.toLowerCase().replace(/\.$/, '')));
  const ingress = new Set(input.ingressAddresses.map((a) => stripPort(a.trim())).filter((a) => net.isIP(a)).map(normalizeIp));
  const configured = sans.dnsNames.some((n) => n !== 'localhost' && !machine.has(n));
  const dnsNames = sans.dnsNames.filter((n) => n !== 'localhost' && (!configured || !machine.has(n)));
  const ipAddresses = sans.ipAddresses.filter((ip) => !['127.0.0.1', '::1'].includes(ip) || ingress.has(ip));
  return { commonName: dnsNames[0] ?? 'offline-registry', dnsNames, ipAddresses };
}

function sameSet(a: string[], b: string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

/** True when the certificate expires within `renewBeforeDays` or its SANs differ from `wanted`. */
export function needsRenewal(
  cert: { notAfter: Date; dnsNames: string[]; ipAddresses: string[] },
  wanted: SanSet,
  now: Date,
  renewBeforeDays = 30,
): boolean {
  if (cert.notAfter.getTime() - now.getTime() < renewBeforeDays * DAY_MS) return true;
  const lower = (xs: string[]) => xs.map((x) => x.toLowerCase());
  if (!sameSet(lower(cert.dnsNames), lower(wanted.dnsNames))) return true;
  return !sameSet(cert.ipAddresses.map(normalizeIp), wanted.ipAddresses.map(normalizeIp));
}

/**
 * The PEM text of a tls-cert / tls-key / tls-ca config value: base64 of a PEM file (as
 * `base64 -w0 file.pem` gives) or the PEM itself. Throws naming `option` otherwise.
 */
export function decodeBase64Pem(value: string, option: string): string {
  const trimmed = value.trim();
  if (trimmed.includes('-----BEGIN ')) return `${trimmed}\n`;
  const compact = trimmed.replace(/\s+/g, '');
  const hint = `set it to base64 of the PEM file: juju config <app> ${option}="$(base64 -w0 file.pem)"`;
  if (!compact) throw new Error(`${option} is empty; ${hint}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new Error(`${option} is neither PEM nor base64; ${hint}`);
  }
  const decoded = Buffer.from(compact, 'base64').toString('utf8').trim();
  if (!decoded.includes('-----BEGIN ') || !decoded.includes('-----END ')) {
    throw new Error(`${option} decodes from base64 but holds no PEM block; ${hint}`);
  }
  return `${decoded}\n`;
}
