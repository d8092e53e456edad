// The docker-registry relation, provider side: every related containerd application gets this
// unit's endpoint, credentials, CA and mirrors in the unit data bag, kept current by the reconcile.
import { type CommandRunner, relationIds, relationSet } from '../juju/index.js';
import { type RegistryEndpointInfo, mirrorHosts, providerUnitData } from './docker-registry.js';

export * from './docker-registry.js';

export const ENDPOINT = 'docker-registry';

/** The docker-registry relations to publish to: all but `brokenRelationId` (it is going away). */
export async function registryRelationIds(runner: CommandRunner, brokenRelationId?: string): Promise<string[]> {
  return (await relationIds(runner, ENDPOINT)).filter((id) => id !== brokenRelationId);
}

/** Publishes this unit's endpoint, credentials, CA and mirrors to each of `ids`. */
export async function publishRegistryRelations(
  runner: CommandRunner,
  ids: string[],
  info: RegistryEndpointInfo,
  upstreamHosts: string[],
): Promise<number> {
  if (!ids.length) return 0;
  const data = providerUnitData(info, mirrorHosts(upstreamHosts, info.netloc));
  // relation-set of unchanged values changes nothing on the other side (no relation-changed).
  await Promise.all(ids.map((id) => relationSet(runner, id, data)));
  return ids.length;
}
