// One holistic reconcile per hook: read the world, compute what the unit should be, converge it,
// set status. Every hook that can change the world runs the same reconcile, so running any hook
// again changes nothing; hooks this charm does not know are no-ops.
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
  resourceGet,
  statusSet,
} from './juju/index.js';
import { readJsonFile, writeJsonFile } from './localstate.js';
import { InstallError, type UnitPaths, convergeRegistry, removeRegistry, stopRegistry } from './registry/index.js';
import { SettingsError, parseSettings } from './settings.js';
import path from 'node:path';

export const ENDPOINT = 'docker-registry';
export const PEER = 'registry-peers';

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
const RELATION_HOOK = new RegExp(`^(${ENDPOINT}|${PEER})-relation-(created|joined|changed|departed|broken)$`);

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
  if (ctx.name === 'stop') return stopRegistry(runner);
  if (ctx.name === 'remove') return removeRegistry(runner, paths);
  if (!isReconcilingHook(ctx.name)) return;
  await reconcile(deps);
}

export async function reconcile(deps: CharmDeps): Promise<Status> {
  const { runner, paths } = deps;
  const log = (message: string) => jujuLog(runner, 'INFO', message);
  const setStatus = async (status: Status) => {
    await statusSet(runner, status);
    return status;
  };

  // network-get is asked alongside config-get: both are round trips, and http-host is rarely set.
  const ingress = ingressAddress(runner).catch((err: Error) => err);
  const config: Record<string, ConfigValue> = await configGet(runner);
  let settings;
  try {
    settings = parseSettings(config);
  } catch (err) {
    if (err instanceof SettingsError) return setStatus({ name: 'blocked', message: err.message });
    throw err;
  }
  const address = await ingress;
  if (!settings.httpHost && address instanceof Error) throw address;
  const publicHost = settings.httpHost || (address as string);

  let registry;
  try {
    registry = await convergeRegistry({
      settings,
      publicHost,
      paths,
      runner,
      packageResource: () => resourceGet(runner, 'registry-package'),
      onInstalling: () => statusSet(runner, { name: 'maintenance', message: 'Installing docker-registry' }),
      log,
    });
  } catch (err) {
    if (err instanceof InstallError) return setStatus({ name: 'blocked', message: err.message });
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
  writeJsonFile(publishedFile, published, 0o644);

  const images = 0;
  const notes = registry.notes.length ? ` (${registry.notes.join('; ')})` : '';
  return setStatus({ name: 'active', message: `Serving ${images} images at ${registry.publicUrl}${notes}` });
}

async function ingressAddress(runner: CommandRunner): Promise<string> {
  const info = await networkGet(runner, ENDPOINT);
  const address = info['ingress-addresses']?.[0] ?? info['bind-addresses']?.[0]?.addresses?.[0]?.value;
  if (!address) throw new Error(`network-get ${ENDPOINT} gave no ingress address: set http-host`);
  return address;
}
