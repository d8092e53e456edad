// The docker-registry relation, provider side: every related containerd application gets this
// unit's endpoint, credentials, CA and mirrors in the unit data bag, kept current by the reconcile.
import { type CommandRunner, relationIds, relationSet } from '../juju/index.js';
import { type RegistryEndpointInfo, mirrorHosts, providerUnitData } from './docker-registry.js';

export * from './docker-registry.js';

export const ENDPOINT = 'docker-registry';

/** Publishes to every docker-registry relation but `brokenRelationId` (it is going away). */
export async function publishRegistryRelations(
  runner: CommandRunner,
  info: RegistryEndpointInfo,
  upstreamHosts: string[],
  brokenRelationId?: string,
): Promise<number> {
  const ids = (await relationIds(runner, ENDPOINT)).filter((id) => id !== brokenRelationId);
  if (!ids.length) return 0;
  const data = providerUnitData(info, mirrorHosts(upstreamHosts, info.netloc));
  // relation-set of unchanged values changes nothing on the other side (no relation-changed).
  await Promise.all(ids.map((id) => relationSet(runner, id, data)));
  return ids.length;
}
