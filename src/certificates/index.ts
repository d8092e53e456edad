// The `certificates` requirer endpoint (tls-certificates v4, unit mode): this unit makes its own
// key (a 0600 file that never leaves the unit) and a CSR for the names clients use (csrNamesFrom in
// src/tls: no bare hostname or loopback, which a CA's policy may refuse), publishes the CSR, and
// serves the provider's certificate once it checks out. The generated certificate stays converged alongside, so unrelating falls back to it at once; a bad
// certificate from the provider leaves the served one in place and says why.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type CommandRunner, type HookContext, relationGet, relationIds, relationRemoteApp, relationSet } from '../juju/index.js';
import { readJsonFile, writeFileIfChanged, writeJsonFile } from '../localstate.js';
import type { Account } from '../registry/account.js';
import type { UnitPaths } from '../registry/index.js';
import { certificateFor, providerCertificates, renewalTime, requirerUnitData, servedChain } from './protocol.js';
import { type CsrNames, certificateProblem, createCsr, generateRequirerKey } from './x509.js';

export const CERTIFICATES = 'certificates';

export interface ServedTls { cert: string; key: string; ca: string; caPem: string }

export interface CertificatesInput {
  ctx: HookContext;
  runner: CommandRunner;
  paths: UnitPaths;
  owner?: Account;
  /** The names the CSR asks for (csrNamesFrom). */
  names: CsrNames;
  /** The generated material, served when there is no provider certificate. */
  generated: ServedTls;
  now?: Date;
}

export interface CertificatesOutcome {
  tls: ServedTls;
  /** The served material changed in place: the public instance must restart. */
  changed: boolean;
  /** For the active status, e.g. waiting for the provider. */
  note?: string;
  /** Why the provider's certificate is not served (the status becomes blocked). */
  problem?: string;
}

interface CertificatesRecord {
  relationId?: string;
  provider?: string;
  /** The CSR published now, and the names it was made for. */
  csr?: string;
  csrFor?: string;
  /** The provider certificate being served. */
  serving?: { fingerprint: string; renewAt: string; csr: string };
  problem?: string;
}

export function certificatesFiles(paths: UnitPaths) {
  const dir = path.join(paths.configDir, 'tls', 'certificates');
  return { dir, key: path.join(dir, 'server.key'), cert: path.join(dir, 'server.crt'), ca: path.join(dir, 'ca.crt'), record: path.join(paths.stateDir, 'certificates.json') };
}

/** The CA file clients must trust now: the provider's while its certificate is served. */
export function servedCaFile(paths: UnitPaths, generatedCa: string): string {
  const files = certificatesFiles(paths);
  const record = readJsonFile<CertificatesRecord>(files.record, {});
  return record.serving && fs.existsSync(files.ca) ? files.ca : generatedCa;
}

/** The server certificate served now: the provider's while it is served, else the generated (or operator's) one. */
export function servedCertFile(paths: UnitPaths, generatedCert: string): string {
  const files = certificatesFiles(paths);
  const record = readJsonFile<CertificatesRecord>(files.record, {});
  return record.serving && fs.existsSync(files.cert) ? files.cert : generatedCert;
}

export async function convergeCertificates(input: CertificatesInput): Promise<CertificatesOutcome> {
  const { ctx, runner, paths } = input;
  const now = input.now ?? new Date();
  const files = certificatesFiles(paths);
  const record = readJsonFile<CertificatesRecord>(files.record, {});
  const servedFiles = (): ServedTls | null =>
    record.serving && fs.existsSync(files.cert) && fs.existsSync(files.key) && fs.existsSync(files.ca)
      ? { cert: files.cert, key: files.key, ca: files.ca, caPem: fs.readFileSync(files.ca, 'utf8') }
      : null;

  // update-status stays cheap: it trusts what the relation hooks recorded.
  const brokenId = ctx.relationEvent === 'broken' && ctx.relation?.endpoint === CERTIFICATES ? ctx.relation.id : undefined;
  const relationId = ctx.name === 'update-status' ? record.relationId : (await relationIds(runner, CERTIFICATES)).filter((id) => id !== brokenId)[0];

  if (!relationId) {
    // Not related (any more): the generated certificate, already converged, is served again.
    if (fs.existsSync(files.dir)) fs.rmSync(files.dir, { recursive: true, force: true });
    if (Object.keys(record).length) writeJsonFile(files.record, {}, 0o600);
    return { tls: input.generated, changed: false };
  }

  fs.mkdirSync(files.dir, { recursive: true, mode: 0o755 });
  const keyOwner = input.owner ? { uid: input.owner.uid, gid: input.owner.gid } : undefined;
  if (!fs.existsSync(files.key)) {
    writeFileIfChanged(files.key, await generateRequirerKey(), 0o600, keyOwner);
    record.csr = record.csrFor = record.serving = undefined;
  }
  const keyPem = fs.readFileSync(files.key, 'utf8');
  const namesKey = JSON.stringify(input.names);
  const renewalDue = record.serving !== undefined && record.serving.csr === record.csr && now >= new Date(record.serving.renewAt);
  const newCsr = !record.csr || record.csrFor !== namesKey || record.relationId !== relationId || renewalDue;
  const provider = record.provider ?? 'the provider';

  if (!newCsr && ctx.name === 'update-status') {
    writeJsonFile(files.record, record, 0o600);
    return outcome(servedFiles() ?? input.generated, false, record, provider);
  }
  if (newCsr) {
    record.csr = await createCsr(keyPem, input.names);
    record.csrFor = namesKey;
  }
  record.relationId = relationId;
  // Unchanged data is no change for Juju: the provider hears of it only when the CSR is new.
  await relationSet(runner, relationId, requirerUnitData(record.csr!));

  const app = ctx.relation?.endpoint === CERTIFICATES && ctx.relation.id === relationId && ctx.relation.remoteApp ? ctx.relation.remoteApp : await relationRemoteApp(runner, relationId);
  record.provider = app;
  const entry = certificateFor(record.csr!, providerCertificates(await relationGet(runner, relationId, app, { app: true })));
  let changed = false;
  record.problem = undefined;
  if (entry?.revoked) {
    // As the library does on revocation: ask again (same key, new CSR) and say so meanwhile.
    record.csr = await createCsr(keyPem, input.names);
    await relationSet(runner, relationId, requirerUnitData(record.csr));
    record.problem = `certificates relation: ${app} revoked the certificate; asked for a new one, still serving the previous certificate`;
  } else if (entry) {
    let chain: ReturnType<typeof servedChain> | undefined;
    let problem: string | null;
    try {
      chain = servedChain(entry);
      const fingerprint = new X509Certificate(chain.leaf).fingerprint256;
      problem = fingerprint === record.serving?.fingerprint && servedFiles() ? null : await certificateProblem({ leaf: chain.leaf, chain: entry.chain.join(''), ca: entry.ca, keyPem, now });
      if (!problem && fingerprint !== record.serving?.fingerprint) {
        const leaf = new X509Certificate(chain.leaf);
        changed = writeFileIfChanged(files.cert, chain.served, 0o644) || changed;
        changed = writeFileIfChanged(files.ca, chain.trust || entry.ca, 0o644) || changed;
        const renewAt = renewalTime(new Date(leaf.validFrom), new Date(leaf.validTo), entry.recommendedNotificationHours);
        record.serving = { fingerprint, renewAt: renewAt.toISOString(), csr: record.csr! };
      }
    } catch (err) {
      problem = `the certificate does not parse (${(err as Error).message})`;
    }
    if (problem) record.problem = `certificates relation: ${problem} (from ${app}); still serving the previous certificate`;
  }
  writeJsonFile(files.record, record, 0o600);
  return outcome(servedFiles() ?? input.generated, changed, record, app);
}

function outcome(tls: ServedTls, changed: boolean, record: CertificatesRecord, provider: string): CertificatesOutcome {
  const waiting = record.serving ? (record.serving.csr !== record.csr ? `waiting for a renewed certificate from ${provider}` : undefined) : `waiting for a certificate from ${provider}`;
  return { tls, changed, ...(waiting ? { note: waiting } : {}), ...(record.problem ? { problem: record.problem } : {}) };
}
