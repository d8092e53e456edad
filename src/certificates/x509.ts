// The unit's own key and CSR for the certificates relation, and the checks a provider's
// certificate must pass before it is served. openssl gets the key through a 0600 file in a
// private temp dir, never argv.
import { X509Certificate, createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type OpensslRun, defaultOpensslRun, normalizeIp, spki, verifyServerChain, withPrivateDir } from '../tls/index.js';
import { certificateBlocks } from './protocol.js';

export interface CsrNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** RSA 2048, as the library's requirers make: every provider (Vault's PKI roles too) signs it. */
export async function generateRequirerKey(run: OpensslRun = defaultOpensslRun): Promise<string> {
  return run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
}

const SAFE = /^[A-Za-z0-9 ._:@*-]{1,64}$/;

/**
 * A CSR for `names`, with a fresh x500UniqueIdentifier in the subject as the library adds: the
 * same key and names still give a new CSR, which is how a renewal is asked for.
 */
export async function createCsr(keyPem: string, names: CsrNames, run: OpensslRun = defaultOpensslRun): Promise<string> {
  if (!SAFE.test(names.commonName)) throw new Error(`certificate common name ${JSON.stringify(names.commonName)} is not usable in a CSR`);
  for (const n of names.dnsNames) if (!SAFE.test(n) || n.includes(' ')) throw new Error(`${JSON.stringify(n)} is not a DNS name for a CSR`);
  for (const ip of names.ipAddresses) if (!net.isIP(ip)) throw new Error(`${JSON.stringify(ip)} is not an IP address for a CSR`);
  const alt = [...names.dnsNames.map((n, i) => `DNS.${i + 1} = ${n}`), ...names.ipAddresses.map((ip, i) => `IP.${i + 1} = ${normalizeIp(ip)}`)];
  return withPrivateDir(async (dir) => {
    const keyFile = path.join(dir, 'key.pem');
    await fs.promises.writeFile(keyFile, keyPem, { mode: 0o600 });
    const config = path.join(dir, 'csr.cnf');
    await fs.promises.writeFile(
      config,
      [
        '[req]',
        'prompt = no',
        'distinguished_name = dn',
        ...(alt.length ? ['req_extensions = ext'] : []),
        '[dn]',
        `CN = ${names.commonName}`,
        `x500UniqueIdentifier = ${randomUUID()}`,
        '[ext]',
        ...(alt.length ? ['subjectAltName = @alt', '[alt]', ...alt] : []),
        '',
      ].join('\n'),
    );
    return run(['req', '-new', '-config', config, '-key', keyFile, '-sha256']);
  });
}


/**
 * Why the provider's certificate must not be served (null: it may): it must parse, carry this
 * unit's public key, be within its validity period, and verify (as a TLS server certificate)
 * against the provider's CA, with the chain's other certificates as intermediates.
 */
export async function certificateProblem(
  opts: { leaf: string; chain: string; ca: string; keyPem: string; now?: Date },
  run: OpensslRun = defaultOpensslRun,
): Promise<string | null> {
  const now = opts.now ?? new Date();
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(opts.leaf);
  } catch (err) {
    return `the certificate does not parse (${(err as Error).message})`;
  }
  if (!spki(leaf.publicKey).equals(spki(createPublicKey(createPrivateKey(opts.keyPem))))) {
    return "the certificate is not for this unit's key (its public key differs from the CSR's)";
  }
  if (new Date(leaf.validTo) < now) return `the certificate expired on ${new Date(leaf.validTo).toISOString()}`;
  if (new Date(leaf.validFrom) > now) return `the certificate is not valid before ${new Date(leaf.validFrom).toISOString()}`;
  const cas = certificateBlocks(opts.ca);
  if (!cas.length) return 'the provider sent no CA certificate';
  const reason = await verifyServerChain(cas, opts.leaf, certificateBlocks(opts.chain), now, run);
  return reason === null ? null : `the certificate does not verify against the provider's CA (${reason})`;
}
