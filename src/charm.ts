// One holistic reconcile per hook: read the world, compute what the unit should be, converge it,
// set status. Every hook that can change the world runs the same reconcile, so running any hook
// again changes nothing; hooks this charm does not know are no-ops.
import path from 'node:path';
import {
  type CommandRunner,
  type ConfigValue,
  type HookContext,
  type Status,
  applicationVersionSet,
  configGet,
  jujuLog,
  networkGet,
  openPort,
  closePort,
  isLeader,
  resourceGet,
  statusSet,
} from './juju/index.js';
import { readJsonFile, writeJsonFile } from './localstate.js';
import { ENDPOINT, publishRegistryRelations, registryRelationIds } from './relations/index.js';
import {
  catalogHosts,
  fileFingerprint,
  filesystemFill,
  formatBytes,
  loadFailures,
  readCatalog,
  readResourceLoad,
  readUsage,
  recordResourceLoad,
  summary,
  writeResourceLoad,
} from './records.js';
import {
  InstallError,
  type RegistryState,
  type UnitPaths,
  convergeRegistry,
  ensureInstalled,
  registryAccount,
  removeRegistry,
  stopRegistry,
} from './registry/index.js';
import { CERTIFICATES, type CertificatesOutcome, convergeCertificates } from './certificates/index.js';
import { PEER, SecurityBlocked, type SecurityState, SecurityWaiting, convergeSecurity } from './security.js';
import { type Settings, SettingsError, metricsPortConflict, metricsPorts, parseSettings } from './settings.js';
import { COS_AGENT, convergeObservability, cosAgentRelationIds, removeExporter, stopExporter } from './cos/index.js';
import { StorageSettingsError, readS3Credentials, s3DriverConfig } from './storage/index.js';
import { loaderRole } from './storage/loader-role.js';
import { convergePeers, shouldSync, syncStatus } from './sync/index.js';
import { shareHttpSecret } from './sync/http-secret.js';

export { ENDPOINT, PEER };

const RECONCILING_HOOKS = new Set([
  'install',
  'start',
  'config-changed',
  'upgrade-charm',
  'update-status',
  'leader-elected',
  'leader-settings-changed',
  'secret-changed',
  'registry-data-storage-attached',
]);
const RELATION_HOOK = new RegExp(`^(${ENDPOINT}|${PEER}|${COS_AGENT}|${CERTIFICATES})-relation-(created|joined|changed|departed|broken)$`);

// `juju attach-resource` fires upgrade-charm; install and config-changed (auto-load turned on) too.
const AUTO_LOAD_HOOKS = new Set(['install', 'upgrade-charm', 'config-changed']);
// update-status warns (still active) above this fill of the data filesystem.
const DISK_WARNING = 0.9;
// Hooks that re-check what rarely changes (the FQDN, the CA secret): update-status stays cheap.
// (A new CA from the leader reaches the other units as a peer relation-changed.)
const THOROUGH_HOOKS = new Set(['install', 'upgrade-charm', 'config-changed', 'start', 'leader-elected', 'secret-changed', `${PEER}-relation-created`, `${PEER}-relation-changed`]);

export function isReconcilingHook(name: string): boolean {
  return RECONCILING_HOOKS.has(name) || RELATION_HOOK.test(name);
}

export interface CharmDeps {
  ctx: HookContext;
  runner: CommandRunner;
  paths: UnitPaths;
}

/** What this unit last told Juju, so a converged unit makes no needless hook-tool calls. */
interface Published {
  openedPort?: number;
  workloadVersion?: string;
}

export async function runHook(deps: CharmDeps): Promise<void> {
  const { ctx, runner, paths } = deps;
  if (ctx.name === 'stop') return stopRegistry(runner).then(() => stopExporter(runner, paths));
  if (ctx.name === 'remove') return removeRegistry(runner, paths).then(() => removeExporter(runner, paths));
  if (!isReconcilingHook(ctx.name)) return;
  await reconcile(deps);
}

export interface ReconcileOptions {
  /** Load the images resource when it changed (default: in install, upgrade-charm, config-changed). */
  autoLoad?: boolean;
}

export async function reconcile(deps: CharmDeps, opts: ReconcileOptions = {}): Promise<Status> {
  const { runner, paths, ctx } = deps;
  const log = (message: string) => jujuLog(runner, 'INFO', message);
  const setStatus = async (status: Status) => {
    await statusSet(runner, status);
    return status;
  };

  // network-get and relation-ids are asked alongside config-get: each is a round trip to the agent.
  const ingress = ingressAddresses(runner).catch((err: Error) => err);
  const relations = registryRelationIds(runner, ctx.relationEvent === 'broken' && ctx.relation?.endpoint === ENDPOINT ? ctx.relation.id : undefined);
  relations.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  const cosRelations = cosAgentRelationIds(runner, ctx.relationEvent === 'broken' && ctx.relation?.endpoint === COS_AGENT ? ctx.relation.id : undefined);
  cosRelations.catch(() => undefined);
  const config: Record<string, ConfigValue> = await configGet(runner);
  let settings: Settings;
  try {
    settings = parseSettings(config);
  } catch (err) {
    if (err instanceof SettingsError) return setStatus({ name: 'blocked', message: err.message });
    throw err;
  }
  const addresses = await ingress;
  if (!settings.httpHost && addresses instanceof Error) throw addresses;
  const publicHost = settings.httpHost || (addresses as string[])[0];

  const packageResource = () => resourceGet(runner, 'registry-package');
  const onInstalling = () => statusSet(runner, { name: 'maintenance', message: 'Installing docker-registry' });
  let install: Awaited<ReturnType<typeof ensureInstalled>>;
  try {
    install = await ensureInstalled({ paths, runner, packageResource, onInstalling, recheckResource: ctx.name === 'upgrade-charm' });
  } catch (err) {
    if (err instanceof InstallError) return setStatus({ name: 'blocked', message: err.message });
    throw err;
  }

  let s3: Record<string, unknown> | undefined;
  if (settings.storage.s3) {
    try {
      // A new revision of a user secret reaches the charm as secret-changed: track it then.
      s3 = s3DriverConfig(settings.storage.s3, await readS3Credentials(runner, settings.storage.s3.credentials, { refresh: ctx.name === 'secret-changed' }));
    } catch (err) {
      if (err instanceof StorageSettingsError) return setStatus({ name: 'blocked', message: err.message });
      throw err;
    }
  }

  const account = registryAccount();
  const leader = once(() => isLeader(runner));
  let security: SecurityState;
  try {
    security = await convergeSecurity(
      { settings, paths, runner, isLeader: leader, ingressAddresses: addresses instanceof Error ? [] : addresses, owner: account, thorough: THOROUGH_HOOKS.has(ctx.name) },
      ctx.appName,
    );
  } catch (err) {
    if (err instanceof SecurityBlocked) return setStatus({ name: 'blocked', message: err.message });
    if (err instanceof SecurityWaiting) return setStatus({ name: 'waiting', message: err.message });
    throw err;
  }
  // A certificate from the certificates relation replaces the generated one (not operator material).
  let certificates: CertificatesOutcome | undefined;
  if (security.tls && security.csrNames) {
    certificates = await convergeCertificates({ ctx, runner, paths, owner: account, names: security.csrNames, generated: security.tls });
    security = { ...security, tls: certificates.tls, changed: security.changed || certificates.changed };
  }

  // Metrics are served (on loopback) only while a collector is related to scrape them.
  const observed = (await cosRelations).length > 0;
  // With a shared S3 store the registries' debug servers stay on (loopback, metrics-port and +1)
  // even without a collector: their /debug/health says why the store fails the health check.
  const portConflict = observed || settings.storage.s3 ? metricsPortConflict(settings) : null;
  if (portConflict) return setStatus({ name: 'blocked', message: portConflict });

  // Every unit runs with the app's http.secret (rarely changes: checked in thorough hooks only).
  if (THOROUGH_HOOKS.has(ctx.name)) await shareHttpSecret({ runner, paths, isLeader: leader, appName: ctx.appName });

  let registry: RegistryState;
  try {
    registry = await convergeRegistry({
      metrics: observed ? metricsPorts(settings) : undefined,
      healthPorts: settings.storage.s3 ? metricsPorts(settings) : undefined,
      settings,
      installed: install.installed,
      account,
      freshInstall: install.fresh,
      security: { tls: security.tls, htpasswd: security.auth?.htpasswd, changed: security.changed },
      publicHost,
      paths,
      runner,
      log,
      s3,
    });
  } catch (err) {
    return setStatus({ name: 'blocked', message: (err as Error).message });
  }

  const publishedFile = path.join(paths.stateDir, 'published.json');
  const published = readJsonFile<Published>(publishedFile, {});
  if (published.openedPort !== settings.port) {
    if (published.openedPort !== undefined) await closePort(runner, published.openedPort);
    await openPort(runner, settings.port);
    published.openedPort = settings.port;
  }
  if (published.workloadVersion !== registry.version) {
    await applicationVersionSet(runner, registry.version);
    published.workloadVersion = registry.version;
  }
  const { netloc } = registry;
  writeJsonFile(path.join(paths.stateDir, 'endpoint.json'), { url: registry.publicUrl, netloc, tls: settings.tls }, 0o644);

  const role = settings.storage.backend === 'filesystem' ? { loads: true } : loaderRole(settings.storage.backend, await leader());
  if (settings.autoLoad && (opts.autoLoad ?? AUTO_LOAD_HOOKS.has(ctx.name))) {
    if (role.loads) await autoLoadResource(deps, registry.writerUrl, settings.layerCompression);
    else await log(`not loading the images resource: ${role.reason}`);
  }

  registry.notes.push(
    ...(await convergeObservability({
      runner,
      paths,
      relationIds: await cosRelations,
      ports: metricsPorts(settings),
      topology: { model: ctx.modelName, modelUuid: ctx.modelUuid, application: ctx.appName, unit: ctx.unitName, charmName: 'offline-registry' },
      charmDir: ctx.charmDir,
      certFile: security.tls?.cert,
      sharedStore: Boolean(settings.storage.s3),
      log,
    })),
  );

  // Several units: agree on the wanted catalog through the peer relation and copy what is missing
  // (with a shared store: adopt the leader's catalog, nothing to copy). update-status stays cheap:
  // it only retries a sync that did not finish (a shared store's catalog is read every time).
  const sync = shouldSync(paths, settings, ctx.name)
    ? await convergePeers({
        runner,
        paths,
        settings,
        unitName: ctx.unitName,
        appName: ctx.appName,
        isLeader: leader,
        writerUrl: registry.writerUrl,
        peerNetloc: `${peerHost(settings, addresses)}:${settings.port}`,
        certFile: security.tls?.cert,
        access: { caPem: security.tls?.caPem, auth: security.auth ? { user: security.auth.user, password: security.auth.password } : undefined },
        setStatus,
        log,
      })
    : null;

  const catalog = readCatalog(paths);
  await publishRegistryRelations(
    runner,
    await relations,
    { netloc, tls: Boolean(security.tls), caPem: security.tls?.caPem, auth: security.auth ? { user: security.auth.user, password: security.auth.password } : undefined },
    catalogHosts(catalog),
  );
  // Juju discards a failed hook's open-port: what was published is recorded only once the hook's
  // last tool call (the status) went through, so a retried hook opens the port again.
  // After stop (or a reboot) the start hook finds the instances down by design: not news.
  const notes = [...(ctx.name === 'start' ? [] : registry.notes), ...(certificates?.note ? [certificates.note] : []), ...(role.reason ? [role.reason] : [])];
  let serving = syncStatus(sync) ?? servingStatus(paths, settings, Object.keys(catalog).length, registry.publicUrl, registry.dataDir, notes);
  if (certificates?.problem && serving.name === 'active') serving = { name: 'blocked', message: certificates.problem };
  // Not restarted (see convergeRegistry): the unit says why, and is active again once the store answers.
  if (registry.storageUnhealthy) serving = { name: 'blocked', message: storageProblem(settings, registry.storageUnhealthy.reason) };
  const status = await setStatus(serving);
  writeJsonFile(publishedFile, published, 0o644);
  return status;
}

/** Why the registry serves nothing while its store fails the health check. */
function storageProblem(settings: Settings, reason: string): string {
  const s3 = settings.storage.s3;
  if (!s3) return `registry storage failing its health check (${reason}); images are not served until it is back`;
  const endpoint = s3.endpoint || `https://s3.${s3.region}.amazonaws.com`;
  return `S3 store unreachable at ${endpoint}: ${reason}; images are not served until it is back`;
}

/** The status of a unit whose registry is up: what it serves, or why the last load blocked. */
function servingStatus(paths: UnitPaths, settings: Settings, images: number, publicUrl: string, dataDir: string, events: string[]): Status {
  const loadRecord = readResourceLoad(paths);
  if (loadRecord && !loadRecord.ok) return { name: 'blocked', message: loadRecord.problem ?? 'the images resource failed to load' };
  const fill = filesystemFill(dataDir);
  const notes = [
    ...events,
    ...(fill !== null && fill > DISK_WARNING ? [`data filesystem ${Math.round(fill * 100)}% full`] : []),
    ...(settings.tls ? [] : ['plain HTTP: the containerd relation needs tls=true']),
  ];
  const suffix = notes.length ? ` (${notes.join('; ')})` : '';
  // The bytes are counted on the unit's filesystem; with S3 they are in the bucket, where no unit
  // counts them: the size is left out rather than shown as 0 B.
  const size = settings.storage.s3 ? '' : ` (${formatBytes(readUsage(paths).bytes)})`;
  return { name: 'active', message: `Serving ${images} images${size} at ${publicUrl}${suffix}` };
}

/** Loads the images resource unless this exact file already loaded successfully (a stat decides). */
async function autoLoadResource(deps: CharmDeps, writerUrl: string, layerCompression: 'none' | 'gzip'): Promise<void> {
  const { runner, paths } = deps;
  const resource = await resourceGet(runner, 'images');
  const fingerprint = fileFingerprint(resource);
  const previous = readResourceLoad(paths);
  if (!fingerprint) {
    // No resource, or Juju's zero-byte placeholder: no images yet, nothing wrong.
    if (previous) writeResourceLoad(paths, { fingerprint: '', ok: true });
    return;
  }
  if (previous?.fingerprint === fingerprint && previous.ok) return;

  const name = path.basename(resource!);
  await statusSet(runner, { name: 'maintenance', message: `Loading images from the images resource (${name})` });
  let lastStatusAt = Date.now();
  const progress: Promise<void>[] = [];
  // The loader (tar streaming, the push client) is loaded only when there is something to load.
  const { loadIntoRegistry } = await import('./loading.js');
  const report = await loadIntoRegistry({
    sources: [resource!],
    writerUrl,
    paths,
    layerCompression,
    onProgress: (e) => {
      // A status update per image at most every two seconds: each one is an agent round trip.
      if (Date.now() - lastStatusAt < 2000) return;
      lastStatusAt = Date.now();
      const rate = `${formatBytes(e.bytesPerSecond)}/s`;
      progress.push(statusSet(runner, { name: 'maintenance', message: `Loading images: ${e.image} ${e.status}; ${formatBytes(e.totalBytes)} pushed, ${rate}` }).catch(() => undefined));
    },
  });
  await Promise.all(progress);
  const failures = loadFailures(report);
  const counts = summary(report);
  await jujuLog(runner, failures.length ? 'WARNING' : 'INFO', `images resource ${name}: ${counts.loaded} pushed, ${counts.present} already present, ${counts.skipped} skipped, ${counts.failed} failed, ${formatBytes(report.bytesPushed)} in ${report.seconds.toFixed(1)} s`);
  for (const failure of failures) await jujuLog(runner, 'WARNING', `images resource ${name}: ${failure}`);
  recordResourceLoad(paths, resource!, fingerprint, report);
}

/** Where peers reach this unit's public registry: its own address, never a name shared by all units (http-host). */
function peerHost(settings: Settings, addresses: string[] | Error): string {
  const own = addresses instanceof Error ? [] : addresses;
  const bind = settings.bindAddress && !['0.0.0.0', '::'].includes(settings.bindAddress) ? settings.bindAddress : '';
  const host = bind || own[0] || settings.httpHost;
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** A function that calls `fn` the first time only, and returns that answer ever after. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let answer: Promise<T> | undefined;
  return () => (answer ??= fn());
}

async function ingressAddresses(runner: CommandRunner): Promise<string[]> {
  const info = await networkGet(runner, ENDPOINT);
  const addresses = info['ingress-addresses']?.length ? info['ingress-addresses'] : (info['bind-addresses']?.[0]?.addresses ?? []).map((a) => a.value);
  if (!addresses.length) throw new Error(`network-get ${ENDPOINT} gave no ingress address: set http-host`);
  return addresses;
}
