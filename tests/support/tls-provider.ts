// A simulated tls-certificates v4 provider (what self-signed-certificates or Vault do): a real CA
// made with openssl that signs the CSRs a requirer publishes, and the provider's app bag.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
}

export interface SignOptions {
  /** openssl ca dates (YYYYMMDDHHMMSSZ); default now .. now + `days`. */
  startDate?: string;
  endDate?: string;
  days?: number;
  /** Sign with the intermediate (when made) instead of the root. */
  byIntermediate?: boolean;
}

export class TestCa {
  readonly rootPem: string;
  readonly intermediatePem?: string;
  private serial = 1;

  private constructor(readonly dir: string, rootPem: string, intermediatePem?: string) {
    this.rootPem = rootPem;
    this.intermediatePem = intermediatePem;
  }

  /** A root CA (RSA, as Vault and self-signed-certificates make), and optionally an intermediate. */
  static create(dir: string, name: string, opts: { intermediate?: boolean } = {}): TestCa {
    fs.mkdirSync(dir, { recursive: true });
    const at = (f: string) => path.join(dir, f);
    fs.writeFileSync(at('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n');
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('root.key'), '-out', at('root.crt'), '-days', '30', '-subj', `/CN=${name} root CA`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    let intermediate: string | undefined;
    if (opts.intermediate) {
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', at('intermediate.key'), '-out', at('intermediate.csr'), '-subj', `/CN=${name} intermediate CA`]);
      openssl(['x509', '-req', '-in', at('intermediate.csr'), '-CA', at('root.crt'), '-CAkey', at('root.key'), '-set_serial', '100', '-days', '30', '-extfile', at('ca.ext'), '-out', at('intermediate.crt')]);
      intermediate = fs.readFileSync(at('intermediate.crt'), 'utf8');
    }
    return new TestCa(dir, fs.readFileSync(at('root.crt'), 'utf8'), intermediate);
  }

  /** Signs a CSR as a TLS server certificate, keeping its subject and SANs (copy_extensions). */
  sign(csrPem: string, opts: SignOptions = {}): string {
    const signer = opts.byIntermediate ? 'intermediate' : 'root';
    const work = fs.mkdtempSync(path.join(this.dir, 'sign-'));
    const at = (f: string) => path.join(work, f);
    fs.writeFileSync(at('index.txt'), '');
    fs.writeFileSync(at('serial'), `${(0x1000 + this.serial++).toString(16)}\n`);
    fs.writeFileSync(at('req.csr'), csrPem);
    fs.writeFileSync(
      at('ca.cnf'),
      [
        '[ca]',
        'default_ca = test_ca',
        '[test_ca]',
        `database = ${at('index.txt')}`,
        `new_certs_dir = ${work}`,
        `serial = ${at('serial')}`,
        `certificate = ${path.join(this.dir, `${signer}.crt`)}`,
        `private_key = ${path.join(this.dir, `${signer}.key`)}`,
        'default_md = sha256',
        'policy = policy_any',
        'copy_extensions = copy',
        'unique_subject = no',
        'x509_extensions = server_ext',
        '[policy_any]',
        'commonName = supplied',
        '[server_ext]',
        'basicConstraints = critical,CA:FALSE',
        'keyUsage = critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage = serverAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid,issuer',
        '',
      ].join('\n'),
    );
    const dates = opts.startDate || opts.endDate ? ['-startdate', opts.startDate ?? '', '-enddate', opts.endDate ?? ''] : ['-days', String(opts.days ?? 30)];
    openssl(['ca', '-batch', '-notext', '-preserveDN', '-config', at('ca.cnf'), '-in', at('req.csr'), '-out', at('out.crt'), ...dates]);
    const cert = fs.readFileSync(at('out.crt'), 'utf8');
    fs.rmSync(work, { recursive: true, force: true });
    return cert;
  }
}

export interface ProviderEntry {
  certificate: string;
  certificate_signing_request: string;
  ca: string;
  chain: string[];
  revoked?: boolean;
  recommended_expiry_notification_time?: number;
}

/** The provider's app bag as the v4 library writes it. */
export function providerAppData(entries: ProviderEntry[]): Record<string, string> {
  return { certificates: JSON.stringify(entries) };
}

/** The one CSR in a requirer's unit bag (v4: certificate_signing_requests). */
export function requestedCsr(bag: Record<string, string>): string {
  const list = JSON.parse(bag.certificate_signing_requests ?? '[]') as Array<{ certificate_signing_request: string; ca: boolean }>;
  if (list.length !== 1) throw new Error(`expected one CSR in the requirer's bag, found ${list.length}`);
  expect(list[0]!.ca).toBe(false);
  return list[0]!.certificate_signing_request;
}

/** openssl's text form of a CSR (subject, SANs), checking its self-signature. */
export function csrText(csrPem: string): string {
  return openssl(['req', '-noout', '-text', '-verify'], csrPem);
}

/** A CSR for a key the requirer does not have. */
export function strangerCsr(dir: string, cn: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'stranger.key'), '-subj', `/CN=${cn}`, '-addext', `subjectAltName=IP:127.0.0.1`]);
}
