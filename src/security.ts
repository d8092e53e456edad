// TLS and basic auth for the public instance. The leader makes a CA once and keeps it in a Juju
// secret owned by the application (every unit can read it; its id and the CA certificate are in
// the peer relation's app data); each unit issues its own server certificate from it for every
// address clients use. Operators may bring their own cert/key/CA instead. A converged unit only
// reads its files here: secrets are fetched when a certificate must be (re)issued.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePassword } from './auth/credentials.js';
import {
  type CommandRunner,
  CommandError,
  relationGet,
  relationIds,
  relationSet,
  secretAdd,
  secretGet,
} from './juju/index.js';
import { readJsonFile, writeFileIfChanged, writeJsonFile } from './localstate.js';
import type { Account } from './registry/account.js';
import type { UnitPaths } from './registry/index.js';
import type { Settings } from './settings.js';
import { createCa, decodeBase64Pem, inspectCert, issueServerCert, needsRenewal, csrNamesFrom, sansFor, validateUserMaterial } from './tls/index.js';

export const PEER = 'registry-peers';
export const CA_SECRET_LABEL = 'offline-registry-ca';
export const AUTH_SECRET_LABEL = 'offline-registry-auth';

export interface TlsFiles { cert: string; key: string; ca: string }

export interface SecurityState {
  /** Files the public instance serves TLS with; undefined when tls=false. */
  tls?: TlsFiles & { caPem: string };
  /** The names a CSR for the certificates relation asks for (not with operator material). */
  csrNames?: { commonName: string; dnsNames: string[]; ipAddresses: string[] };
  auth?: { user: string; password: string; htpasswd: string };
  /** Files that changed: the public instance must restart. */
  changed: boolean;
}

export class SecurityWaiting extends Error {}
export class SecurityBlocked extends Error {
  constructor(readonly option: string, message: string) {
    super(message);
  }
}

export function securityFiles(paths: UnitPaths) {
  const dir = path.join(paths.configDir, 'tls');
  return {
    dir,
    cert: path.join(dir, 'server.crt'),
    key: path.join(dir, 'server.key'),
    ca: path.join(dir, 'ca.crt'),
    htpasswd: path.join(paths.configDir, 'htpasswd'),
    password: path.join(paths.configDir, 'auth-password'),
    record: path.join(paths.stateDir, 'security.json'),
  };
}

interface SecurityRecord {
  /** Fingerprint of the operator material last written (so it is validated once). */
  userMaterial?: string;
  /** sha256 of user + password behind the current htpasswd (bcrypt salts differ per render). */
  htpasswdFor?: string;
  salt?: string;
  fqdn?: string;
  /** Leader only: what the peers need to find the app's secrets, as published (republished on thorough hooks). */
  peerData?: Record<string, string>;
}

export interface SecurityInput {
  /** is-leader, asked at most once per hook (memoised by the caller). */
  isLeader: () => Promise<boolean>;
  settings: Settings;
  paths: UnitPaths;
  runner: CommandRunner;
  ingressAddresses: string[];
  owner?: Account;
  now?: Date;
  /**
   * In hooks where a few more round trips are fine (not update-status): look up the FQDN again (a
   * process) and check the app's CA secret still exists and is the one this unit's certificate
   * comes from. A secret added in a hook that then failed is discarded by Juju while this unit's
   * files stay: this check makes the leader create the CA again instead of leaving it missing.
   */
  thorough?: boolean;
}

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest('hex');

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

async function peerRelationId(runner: CommandRunner): Promise<string | undefined> {
  return (await relationIds(runner, PEER))[0];
}

/** The app's CA from its secret: the leader creates it the first time. */
async function applicationCa(input: SecurityInput, record: SecurityRecord, appName: string): Promise<{ cert: string; key: string }> {
  const { runner } = input;
  if (await input.isLeader()) {
    try {
      const content = await secretGet(runner, { label: CA_SECRET_LABEL });
      if (content['ca-cert'] && content['ca-key']) return { cert: content['ca-cert'], key: content['ca-key'] };
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
    }
    const ca = await createCa({ commonName: `${appName} offline-registry CA` });
    const id = await secretAdd(runner, { 'ca-cert': ca.cert, 'ca-key': ca.key }, { label: CA_SECRET_LABEL, owner: 'application', description: 'CA of the offline registry' });
    await sharePeerData(runner, record, { 'ca-secret-id': id, 'ca-cert': ca.cert });
    return ca;
  }
  const peer = await peerRelationId(runner);
  const appData = peer ? await relationGet(runner, peer, appName, { app: true }) : {};
  if (!appData['ca-secret-id']) throw new SecurityWaiting('waiting for the leader to create the registry CA');
  const content = await secretGet(runner, { id: appData['ca-secret-id'] });
  if (!content['ca-cert'] || !content['ca-key']) throw new SecurityWaiting('waiting for the leader to create the registry CA');
  return { cert: content['ca-cert'], key: content['ca-key'] };
}

/** Leader only: what every unit needs to find the app's secrets. */
export async function publishToPeers(runner: CommandRunner, data: Record<string, string>): Promise<void> {
  const peer = await peerRelationId(runner);
  if (peer) await relationSet(runner, peer, data, { app: true });
}

// The peer relation may not exist yet when the leader makes a secret (install runs before the
// peer relation-created hook): remember what was shared, and share it again on thorough hooks.
async function sharePeerData(runner: CommandRunner, record: SecurityRecord, data: Record<string, string>): Promise<void> {
  record.peerData = { ...(record.peerData ?? {}), ...data };
  await publishToPeers(runner, data);
}

async function fqdnOf(record: SecurityRecord, refresh: boolean): Promise<string> {
  if (record.fqdn && !refresh) return record.fqdn;
  const { execa } = await import('execa');
  const result = await execa('hostname', ['--fqdn'], { reject: false });
  record.fqdn = result.exitCode === 0 ? String(result.stdout).trim() : os.hostname();
  return record.fqdn;
}

async function convergeTls(input: SecurityInput, record: SecurityRecord, appName: string): Promise<{ files: SecurityState['tls']; changed: boolean; csrNames?: SecurityState['csrNames'] }> {
  const { settings, owner } = input;
  const files = securityFiles(input.paths);
  fs.mkdirSync(files.dir, { recursive: true, mode: 0o755 });
  const keyOwner = owner ? { uid: owner.uid, gid: owner.gid } : undefined;
  let changed = false;

  if (settings.tlsCert) {
    const fingerprint = sha256([settings.tlsCert, settings.tlsKey, settings.tlsCa].join('\n'));
    if (record.userMaterial !== fingerprint || !fs.existsSync(files.key)) {
      let cert: string, key: string, ca: string | undefined;
      try {
        cert = decodeBase64Pem(settings.tlsCert, 'tls-cert');
        key = decodeBase64Pem(settings.tlsKey, 'tls-key');
        ca = settings.tlsCa ? decodeBase64Pem(settings.tlsCa, 'tls-ca') : undefined;
      } catch (err) {
        const option = /tls-(cert|key|ca)/.exec((err as Error).message)?.[0] ?? 'tls-cert';
        throw new SecurityBlocked(option, (err as Error).message);
      }
      const problem = await validateUserMaterial({ cert, key, ca });
      if (problem) throw new SecurityBlocked(problem.option, problem.message);
      changed = writeFileIfChanged(files.key, key, 0o600, keyOwner) || changed;
      changed = writeFileIfChanged(files.cert, cert, 0o644) || changed;
      // Without tls-ca the chain's last certificate is what clients must trust.
      changed = writeFileIfChanged(files.ca, ca ?? cert, 0o644) || changed;
      record.userMaterial = fingerprint;
    }
    return { files: { cert: files.cert, key: files.key, ca: files.ca, caPem: readText(files.ca)! }, changed };
  }
  record.userMaterial = undefined;

  let wanted;
  let sanInput;
  try {
    sanInput = {
      ingressAddresses: input.ingressAddresses,
      httpHost: settings.httpHost || undefined,
      hostname: os.hostname(),
      fqdn: await fqdnOf(record, input.thorough === true),
      extra: settings.tlsSans,
    };
    wanted = sansFor(sanInput);
  } catch (err) {
    throw new SecurityBlocked('tls-sans', (err as Error).message);
  }
  const currentCert = readText(files.cert);
  const currentCa = readText(files.ca);
  let reissue = !currentCert || !currentCa || !fs.existsSync(files.key);
  let ca: { cert: string; key: string } | undefined;
  if (!reissue && input.thorough) {
    ca = await applicationCa(input, record, appName);
    reissue = ca.cert.trim() !== currentCa!.trim();
  }
  if (!reissue) {
    const info = await inspectCert(currentCert!);
    const issuedByCa = new crypto.X509Certificate(currentCert!).verify(new crypto.X509Certificate(currentCa!).publicKey);
    reissue = !issuedByCa || needsRenewal(info, wanted, input.now ?? new Date());
  }
  const names = { commonName: wanted.dnsNames[0] ?? 'offline-registry', dnsNames: wanted.dnsNames, ipAddresses: wanted.ipAddresses };
  if (reissue) {
    ca ??= await applicationCa(input, record, appName);
    const server = await issueServerCert(ca, names);
    writeFileIfChanged(files.key, server.key, 0o600, keyOwner);
    writeFileIfChanged(files.cert, server.cert, 0o644);
    writeFileIfChanged(files.ca, ca.cert, 0o644);
    changed = true;
  }
  return { files: { cert: files.cert, key: files.key, ca: files.ca, caPem: readText(files.ca)! }, changed, csrNames: csrNamesFrom(wanted, sanInput) };
}

/** The basic-auth password: the operator's, else the one the leader generated into a secret. */
async function authPassword(input: SecurityInput, record: SecurityRecord, appName: string): Promise<string> {
  const { settings, runner } = input;
  if (settings.authPassword) return settings.authPassword;
  const files = securityFiles(input.paths);
  const cached = readText(files.password);
  if (cached) return cached.trim();
  let password: string | undefined;
  if (await input.isLeader()) {
    try {
      password = (await secretGet(runner, { label: AUTH_SECRET_LABEL })).password;
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
    }
    if (!password) {
      password = generatePassword();
      const id = await secretAdd(runner, { password }, { label: AUTH_SECRET_LABEL, owner: 'application', description: 'basic-auth password of the offline registry' });
      await sharePeerData(runner, record, { 'auth-secret-id': id });
    }
  } else {
    const peer = await peerRelationId(runner);
    const appData = peer ? await relationGet(runner, peer, appName, { app: true }) : {};
    if (!appData['auth-secret-id']) throw new SecurityWaiting('waiting for the leader to generate the registry password');
    password = (await secretGet(runner, { id: appData['auth-secret-id'] })).password;
    if (!password) throw new SecurityWaiting('waiting for the leader to generate the registry password');
  }
  writeFileIfChanged(files.password, `${password}\n`, 0o600);
  return password;
}

export async function convergeSecurity(input: SecurityInput, appName: string): Promise<SecurityState> {
  const files = securityFiles(input.paths);
  const record = readJsonFile<SecurityRecord>(files.record, {});
  const state: SecurityState = { changed: false };
  if (input.settings.tls) {
    const tls = await convergeTls(input, record, appName);
    state.tls = tls.files;
    state.changed = tls.changed;
    if (tls.csrNames) state.csrNames = tls.csrNames;
  }
  if (input.settings.auth) {
    const user = input.settings.authUser;
    const password = await authPassword(input, record, appName);
    record.salt ??= crypto.randomBytes(16).toString('hex');
    const wantedFor = sha256(`${record.salt}\n${user}\n${password}`);
    if (record.htpasswdFor !== wantedFor || !fs.existsSync(files.htpasswd)) {
      const owner = input.owner ? { uid: input.owner.uid, gid: input.owner.gid } : undefined;
      // bcrypt is loaded only when the htpasswd must be written.
      const { renderHtpasswd } = await import('./auth/htpasswd.js');
      writeFileIfChanged(files.htpasswd, renderHtpasswd(user, password), 0o600, owner);
      record.htpasswdFor = wantedFor;
      state.changed = true;
    }
    state.auth = { user, password, htpasswd: files.htpasswd };
  } else {
    record.htpasswdFor = undefined;
  }
  if (input.thorough && record.peerData && (await input.isLeader())) {
    await publishToPeers(input.runner, record.peerData);
  }
  writeJsonFile(files.record, record, 0o600);
  return state;
}
