// get-credentials: what an operator needs to pull by hand (skopeo, ctr --user, crane).
import fs from 'node:fs';
import type { CharmDeps } from '../charm.js';
import { actionFail, actionSet, configGet } from '../juju/index.js';
import { readJsonFile } from '../localstate.js';
import { securityFiles } from '../security.js';
import { parseSettings } from '../settings.js';
import path from 'node:path';

export interface PublishedEndpoint { url: string; netloc: string }

/** Where the public registry serves, as the last reconcile converged it. */
export function readEndpoint(deps: CharmDeps): PublishedEndpoint | null {
  return readJsonFile<PublishedEndpoint | null>(path.join(deps.paths.stateDir, 'endpoint.json'), null);
}

export async function getCredentialsAction(deps: CharmDeps): Promise<void> {
  const { runner, paths } = deps;
  const settings = parseSettings(await configGet(runner));
  const endpoint = readEndpoint(deps);
  if (!endpoint) return actionFail(runner, 'the registry is not set up yet: wait for the unit to be active (juju status)');
  const files = securityFiles(paths);
  const results: Record<string, unknown> = { url: endpoint.url, netloc: endpoint.netloc, tls: settings.tls };
  if (settings.tls && fs.existsSync(files.ca)) results['ca-cert'] = fs.readFileSync(files.ca, 'utf8');
  if (settings.auth) {
    const password = settings.authPassword || (fs.existsSync(files.password) ? fs.readFileSync(files.password, 'utf8').trim() : '');
    if (!password) return actionFail(runner, 'basic auth is on but the password is not known on this unit yet: wait for the leader to generate it');
    results.username = settings.authUser;
    // action-set takes values only as arguments: the password is briefly in this unit's process list.
    results.password = password;
  }
  await actionSet(runner, results);
}
