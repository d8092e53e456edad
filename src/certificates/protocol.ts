// The tls-certificates interface, v4 (canonical/tls-certificates-interface
// lib/charms/tls_certificates_interface/v4/tls_certificates.py), requirer side in unit mode. Pure:
// data in, data out.
//   requirer unit bag: certificate_signing_requests = JSON [{certificate_signing_request, ca}]
//   provider app bag:  certificates = JSON [{certificate, certificate_signing_request, ca, chain,
//                      revoked?, recommended_expiry_notification_time? (hours)}]
import { X509Certificate } from 'node:crypto';

export const CSR_KEY = 'certificate_signing_requests';
export const CERTIFICATES_KEY = 'certificates';

export interface ProviderCertificate {
  certificate: string;
  csr: string;
  ca: string;
  chain: string[];
  revoked: boolean;
  /** Hours before expiry the provider recommends renewing at. */
  recommendedNotificationHours?: number;
}

/** This unit's bag: one CSR, not a CA, as the library writes it (PEM stripped). */
export function requirerUnitData(csrPem: string): Record<string, string> {
  return { [CSR_KEY]: JSON.stringify([{ certificate_signing_request: csrPem.trim(), ca: false }]) };
}

/** The certificates in a provider's app bag; entries the library would skip are skipped. */
export function providerCertificates(bag: Record<string, string>): ProviderCertificate[] {
  const raw = bag[CERTIFICATES_KEY];
  if (!raw) return [];
  let list: unknown;
  try {
    list = JSON.parse(raw);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const out: ProviderCertificate[] = [];
  for (const item of list) {
    if (!item || typeof item !== 'object') continue;
    const e = item as Record<string, unknown>;
    if (typeof e.certificate !== 'string' || typeof e.certificate_signing_request !== 'string') continue;
    const hours = e.recommended_expiry_notification_time;
    out.push({
      certificate: e.certificate,
      csr: e.certificate_signing_request,
      ca: typeof e.ca === 'string' ? e.ca : '',
      chain: Array.isArray(e.chain) ? e.chain.filter((c): c is string => typeof c === 'string') : [],
      revoked: e.revoked === true,
      ...(typeof hours === 'number' && Number.isFinite(hours) ? { recommendedNotificationHours: hours } : {}),
    });
  }
  return out;
}

/** The DER bytes of the first PEM block (whitespace and line breaks do not matter), as base64. */
function pemBody(pem: string): string {
  const m = /-----BEGIN [A-Z ]+-----([\s\S]*?)-----END [A-Z ]+-----/.exec(pem);
  return m ? m[1]!.replace(/\s+/g, '') : pem.trim();
}

/** The provider's entry for our CSR (compared as DER, so PEM spelling does not matter). */
export function certificateFor(csrPem: string, certificates: ProviderCertificate[]): ProviderCertificate | undefined {
  const ours = pemBody(csrPem);
  // The last entry wins: a provider that reissues may append before it removes.
  return certificates.filter((c) => pemBody(c.csr) === ours).at(-1);
}

/** Every PEM certificate block in the texts, in order, deduplicated. */
export function certificateBlocks(...texts: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const text of texts) {
    for (const block of text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
      const key = pemBody(block);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(`${block}\n`);
    }
  }
  return out;
}

/**
 * What the public instance serves and what clients trust, from a provider entry whatever the
 * order of its chain (self-signed-certificates sends [ca, certificate], others leaf first):
 * `served` is the leaf then each issuer up to (not including) a self-signed root; `trust` is the
 * provider's `ca` followed by the chain's other CA certificates.
 */
export function servedChain(entry: ProviderCertificate): { leaf: string; served: string; trust: string } {
  const leafPem = certificateBlocks(entry.certificate)[0] ?? entry.certificate;
  const leaf = new X509Certificate(leafPem);
  const pool = certificateBlocks(entry.ca, ...entry.chain).map((pem) => ({ pem, x509: new X509Certificate(pem) }));
  const served = [leafPem];
  let current = leaf;
  for (let depth = 0; depth < 8; depth++) {
    const issuer = pool.find((c) => c.x509.fingerprint256 !== current.fingerprint256 && c.x509.ca && current.checkIssued(c.x509) && current.verify(c.x509.publicKey));
    if (!issuer || issuer.x509.checkIssued(issuer.x509)) break; // the root is the client's to trust, not ours to send
    served.push(issuer.pem);
    current = issuer.x509;
  }
  const trust = pool.filter((c) => c.x509.ca && c.x509.fingerprint256 !== leaf.fingerprint256).map((c) => c.pem);
  return { leaf: leafPem, served: served.join(''), trust: trust.join('') };
}

/**
 * When to ask for a new certificate: the provider's recommendation (hours before expiry) when it
 * falls after the start of validity, else with a third of the validity left, as the library does.
 */
export function renewalTime(notBefore: Date, notAfter: Date, recommendedHours?: number): Date {
  if (recommendedHours !== undefined) {
    const at = new Date(notAfter.getTime() - Math.abs(recommendedHours) * 3600_000);
    if (at > notBefore) return at;
  }
  return new Date(notAfter.getTime() - (notAfter.getTime() - notBefore.getTime()) / 3);
}
