// The registry on the unit, as one entry point: install the binary, render both instances'
// configs and units, (re)start what changed or died, and report where they serve.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CommandRunner } from '../juju/index.js';
import { readJsonFile, writeFileIfChanged, writeJsonFile } from '../localstate.js';
import type { Settings } from '../settings.js';
import type { Account } from './account.js';
import { type InstanceRole, listenAddress, renderRegistryConfig } from './config.js';
import { type Health, healthReasons, probe, waitHealthy } from './health.js';
import { type InstalledRegistry, installRegistry, resourceFingerprint } from './install.js';
import type { UnitPaths } from './paths.js';
import { PACKAGE_UNIT, Systemd, renderUnitFile, unitName } from './service.js';

export { InstallError } from './install.js';
export { unitPaths, type UnitPaths } from './paths.js';

export const ROLES: InstanceRole[] = ['public', 'writer'];

export interface RegistryState {
  publicUrl: string;
  /** host:port clients use (no scheme): the relation's registry_netloc. */
  netloc: string;
  writerUrl: string;
  version: string;
  dataDir: string;
  /** Things worth telling the operator, e.g. an instance that was found dead and restarted. */
  notes: string[];
  /**
   * The instances answer but their storage health check fails (the store does not answer them):
   * not restarted, since a restart cannot bring the store back. `reason` is the registry's own.
   */
  storageUnhealthy?: { roles: InstanceRole[]; reason: string };
}

export interface PublicSecurity {
  tls?: { cert: string; key: string };
  htpasswd?: string;
  /** TLS material or htpasswd changed: the public instance must restart to read them. */
  changed: boolean;
}

export interface InstallInput {
  paths: UnitPaths;
  runner: CommandRunner;
  /** Looks up the registry-package resource (a hook-tool call): at first install, or when rechecking. */
  packageResource: () => Promise<string | null>;
  onInstalling?: () => Promise<void>;
  /** Look at the resource again (upgrade-charm: `juju attach-resource` may have brought a new one). */
  recheckResource?: boolean;
}

export interface ConvergeInput {
  settings: Settings;
  installed: InstalledRegistry;
  /** The account the registry runs as (it owns the data and the configs); undefined: root. */
  account?: Account;
  /** The binary was (re)installed in this hook: both instances restart on it. */
  freshInstall?: boolean;
  security?: PublicSecurity;
  /** The host clients use (http-host, else the unit's ingress address). */
  publicHost: string;
  paths: UnitPaths;
  runner: CommandRunner;
  log?: (message: string) => Promise<void>;
  /** Serve each instance's Prometheus metrics on loopback (a cos-agent relation exists). */
  metrics?: Record<InstanceRole, number>;
  /** Without metrics: still run each instance's debug server on these loopback ports, for /debug/health. */
  healthPorts?: Record<InstanceRole, number>;
  /** The `storage.s3` driver section (with credentials) when storage-backend is s3. */
  s3?: Record<string, unknown>;
}

const formatHost = (host: string) => (host.includes(':') && !host.startsWith('[') ? `[${host}]` : host);

export function registryFiles(paths: UnitPaths) {
  return {
    installed: path.join(paths.stateDir, 'registry.json'),
    rendered: path.join(paths.stateDir, 'rendered.json'),
    httpSecret: path.join(paths.configDir, 'http-secret'),
    config: (role: InstanceRole) => path.join(paths.configDir, `${role}.yml`),
    unit: (role: InstanceRole) => path.join(paths.systemdDir, unitName(role)),
  };
}

export { registryAccount } from './account.js';

/** The registry binary, installed when missing or when a new registry-package resource came. */
export async function ensureInstalled(input: InstallInput): Promise<{ installed: InstalledRegistry; fresh: boolean }> {
  const files = registryFiles(input.paths);
  const known = readJsonFile<InstalledRegistry | null>(files.installed, null);
  let resource: string | null | undefined;
  if (known && fs.existsSync(known.binary)) {
    if (!input.recheckResource) return { installed: known, fresh: false };
    resource = await input.packageResource();
    if (resourceFingerprint(resource) === known.resourceFingerprint) return { installed: known, fresh: false };
  }
  await input.onInstalling?.();
  const installed = await installRegistry(input.runner, { resource: resource !== undefined ? resource : await input.packageResource(), packageDir: input.paths.packageDir });
  await new Systemd(input.runner).silence(PACKAGE_UNIT);
  writeJsonFile(files.installed, installed, 0o644);
  return { installed, fresh: true };
}

const sha256 = (data: string | Buffer) => crypto.createHash('sha256').update(data).digest('hex');

function fileHash(file: string): string {
  try {
    return sha256(fs.readFileSync(file));
  } catch {
    return '';
  }
}

function httpSecret(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    const secret = crypto.randomBytes(32).toString('base64url');
    writeFileIfChanged(file, `${secret}\n`, 0o600);
    return secret;
  }
}

export async function convergeRegistry(input: ConvergeInput): Promise<RegistryState> {
  const { settings, paths, runner, installed } = input;
  const files = registryFiles(paths);
  const { account } = input;
  const owner = account ? { uid: account.uid, gid: account.gid } : undefined;
  const dataDir = paths.defaultDataDir;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  if (owner) fs.chownSync(dataDir, owner.uid, owner.gid);
  fs.mkdirSync(paths.configDir, { recursive: true, mode: 0o755 });
  const secret = httpSecret(files.httpSecret);

  const security = input.security ?? { changed: false };
  const scheme = security.tls ? 'https' : 'http';
  const netloc = `${formatHost(input.publicHost)}:${settings.port}`;
  const publicUrl = `${scheme}://${netloc}`;
  const writerUrl = `http://127.0.0.1:${settings.writerPort}`;
  const instances = {
    public: { listen: listenAddress(settings.bindAddress, settings.port), hostUrl: publicUrl, probeUrl: `${scheme}://${formatHost(settings.bindAddress || '127.0.0.1')}:${settings.port}` },
    writer: { listen: listenAddress('127.0.0.1', settings.writerPort), hostUrl: writerUrl, probeUrl: writerUrl },
  };

  const systemd = new Systemd(runner);
  const changed: Record<InstanceRole, boolean> = { public: false, writer: false };
  let unitsChanged = false;
  const rendered = readJsonFile<Record<string, { inputs: string; file: string }>>(files.rendered, {});
  for (const role of ROLES) {
    const publicOnly = role === 'public' ? { tls: security.tls ? { certificate: security.tls.cert, key: security.tls.key } : undefined, htpasswd: security.htpasswd } : {};
    const inputs = { role, dataDir, listen: instances[role].listen, hostUrl: instances[role].hostUrl, httpSecret: secret, logLevel: settings.logLevel, ...(input.s3 ? { s3: input.s3 } : {}), ...publicOnly, ...debugListen(input, role) };
    const inputsHash = sha256(JSON.stringify(inputs));
    // A converged unit skips rendering (and loading yaml) when neither the inputs nor the file changed.
    if (rendered[role]?.inputs !== inputsHash || rendered[role]?.file !== fileHash(files.config(role))) {
      // The config holds http.secret: readable by the registry's account only.
      changed[role] = writeFileIfChanged(files.config(role), await renderRegistryConfig(inputs), 0o600, owner);
      rendered[role] = { inputs: inputsHash, file: fileHash(files.config(role)) };
      writeJsonFile(files.rendered, rendered, 0o600);
    }
    const unit = renderUnitFile({ role, binary: installed.binary, configPath: files.config(role), user: account?.name });
    if (writeFileIfChanged(files.unit(role), unit, 0o644)) {
      changed[role] = true;
      unitsChanged = true;
    }
  }
  if (security.changed) changed.public = true;
  if (input.freshInstall) changed.public = changed.writer = true;
  if (unitsChanged) {
    await systemd.daemonReload();
    for (const role of ROLES) await systemd.enable(unitName(role));
  }

  const notes: string[] = [];
  const unhealthyStores: Partial<Record<InstanceRole, Health>> = {};
  await Promise.all(
    ROLES.map(async (role) => {
      const url = instances[role].probeUrl;
      if (!changed[role]) {
        const health = await probe(url);
        if (health.ok) return;
        // The process answers; its store does not. A restart would not bring the store back (and
        // on every update-status would only interrupt what it still serves): say why instead.
        if (health.storageUnhealthy) {
          unhealthyStores[role] = health;
          return;
        }
        notes.push(`restarted the ${role} registry (${health.detail})`);
        await input.log?.(`${role} registry at ${url} was down (${health.detail}): restarting ${unitName(role)}`);
      }
      await systemd.restart(unitName(role));
      const health = await waitHealthy(url, 20000, () => systemd.gaveUp(unitName(role)));
      if (health.storageUnhealthy) {
        unhealthyStores[role] = health;
        return;
      }
      if (!health.ok) {
        // Its own last words (address in use, permission denied on the port) say more than the probe.
        const reason = (await systemd.failureReason(unitName(role))) ?? health.detail;
        throw new Error(`the ${role} registry did not come up at ${url} (${reason}): see journalctl -u ${unitName(role)}`);
      }
    }),
  );
  const state: RegistryState = { publicUrl, netloc, writerUrl, version: installed.version, dataDir, notes };
  const roles = ROLES.filter((r) => unhealthyStores[r]);
  if (roles.length) {
    let reason: string | null = null;
    for (const role of roles) {
      const listen = debugListen(input, role);
      const address = listen.metricsListen ?? listen.healthListen;
      if (address && !reason) reason = await healthReasons(address).then((r) => (r ? redact(r, input.s3) : null));
    }
    state.storageUnhealthy = { roles, reason: reason ?? unhealthyStores[roles[0]]!.detail };
    await input.log?.(`the ${roles.join(' and ')} registry's storage health check fails (${state.storageUnhealthy.reason}): not restarting it`);
  }
  return state;
}

/** Where an instance's debug server listens: with metrics when observed, else for /debug/health only when asked. */
function debugListen(input: Pick<ConvergeInput, 'metrics' | 'healthPorts'>, role: InstanceRole): { metricsListen?: string; healthListen?: string } {
  if (input.metrics) return { metricsListen: listenAddress('127.0.0.1', input.metrics[role]) };
  if (input.healthPorts) return { healthListen: listenAddress('127.0.0.1', input.healthPorts[role]) };
  return {};
}

/** The store's credentials never go into a status or a log, even when an error quotes them. */
function redact(text: string, s3: Record<string, unknown> | undefined): string {
  let out = text;
  for (const key of ['accesskey', 'secretkey']) {
    const value = s3?.[key];
    if (typeof value === 'string' && value) out = out.split(value).join('<redacted>');
  }
  return out.length > 400 ? `${out.slice(0, 397)}...` : out;
}

export async function stopRegistry(runner: CommandRunner): Promise<void> {
  const systemd = new Systemd(runner);
  for (const role of ROLES) await systemd.stop(unitName(role)).catch(() => undefined);
}

/** On remove: stop and forget the units; the image data stays for whoever redeploys. */
export async function removeRegistry(runner: CommandRunner, paths: UnitPaths): Promise<void> {
  const systemd = new Systemd(runner);
  const files = registryFiles(paths);
  for (const role of ROLES) {
    await systemd.stop(unitName(role)).catch(() => undefined);
    await systemd.disable(unitName(role)).catch(() => undefined);
    fs.rmSync(files.unit(role), { force: true });
  }
  await systemd.daemonReload().catch(() => undefined);
}
