// What the action handlers share: failing with a clear message, and where and how the registry is
// reached (as the last reconcile converged it).
import fs from 'node:fs';
import path from 'node:path';
import type { CharmDeps } from '../charm.js';
import { createRegistryClient } from '../images/remote/index.js';
import { actionFail, configGet } from '../juju/index.js';
import { readJsonFile } from '../localstate.js';
import { readCatalog } from '../records.js';
import { probe } from '../registry/health.js';
import { servedCaFile } from '../certificates/index.js';
import { securityFiles } from '../security.js';
import { type Settings, parseSettings } from '../settings.js';

/** A problem the operator can fix: its message becomes the action's failure message. */
export class ActionProblem extends Error {}

/** Runs an action body; any error becomes action-fail with its message (the hook itself succeeds). */
export function action(body: (deps: CharmDeps) => Promise<void>) {
  return async (deps: CharmDeps) => {
    try {
      await body(deps);
    } catch (err) {
      await actionFail(deps.runner, (err as Error).message);
    }
  };
}

export interface PublishedEndpoint { url: string; netloc: string; tls: boolean }

/** Where the public registry serves, as the last reconcile converged it. */
export function readEndpoint(deps: CharmDeps): PublishedEndpoint | null {
  return readJsonFile<PublishedEndpoint | null>(path.join(deps.paths.stateDir, 'endpoint.json'), null);
}

export interface RegistryAccess extends PublishedEndpoint {
  caPem?: string;
  auth?: { user: string; password: string };
}

/** The public registry's address, CA and credentials, for clients outside the relation. */
export async function registryAccess(deps: CharmDeps, parsed?: Settings): Promise<RegistryAccess> {
  const settings = parsed ?? parseSettings(await configGet(deps.runner));
  const endpoint = readEndpoint(deps);
  if (!endpoint) throw new ActionProblem('the registry is not set up yet: wait for the unit to be active (juju status)');
  const files = securityFiles(deps.paths);
  const access: RegistryAccess = { ...endpoint };
  const caFile = servedCaFile(deps.paths, files.ca);
  if (endpoint.tls && fs.existsSync(caFile)) access.caPem = fs.readFileSync(caFile, 'utf8');
  if (settings.auth) {
    const password = settings.authPassword || (fs.existsSync(files.password) ? fs.readFileSync(files.password, 'utf8').trim() : '');
    if (!password) throw new ActionProblem('basic auth is on but the password is not known on this unit yet: wait for the leader to generate it');
    access.auth = { user: settings.authUser, password };
  }
  return access;
}

/** The settings and the loopback writer's URL, once the writer answers. */
export async function checkedWriter(deps: CharmDeps, parsed?: Settings) {
  const settings = parsed ?? parseSettings(await configGet(deps.runner));
  const writerUrl = `http://127.0.0.1:${settings.writerPort}`;
  const health = await probe(writerUrl);
  if (!health.ok) throw new ActionProblem(`the writer registry at ${writerUrl} is not running (${health.detail}): check "juju status" and the offline-registry-writer service`);
  return { settings, writerUrl };
}

/** The writer with a client and the catalog: for actions that read or change images. */
export async function writerContext(deps: CharmDeps) {
  const { settings, writerUrl } = await checkedWriter(deps);
  return { settings, writerUrl, client: createRegistryClient({ baseUrl: writerUrl }), catalog: readCatalog(deps.paths) };
}
