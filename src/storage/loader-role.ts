// Who loads images into the registry's store. On the unit's own filesystem every unit loads its
// copy; on a shared S3 store only the leader writes, so units never push the same blobs at once.
import type { StorageBackend } from './index.js';

export interface LoaderRole {
  loads: boolean;
  /** Why this unit does not load (for status and logs), when it does not. */
  reason?: string;
}

export function loaderRole(backend: StorageBackend, isLeader: boolean): LoaderRole {
  if (backend !== 's3' || isLeader) return { loads: true };
  return { loads: false, reason: 'shared S3 store: the leader loads images' };
}

/** Why an action that writes to the store must not run on this unit, or null when it may. */
export function storeWriteRefusal(backend: StorageBackend, isLeader: boolean, action: string): string | null {
  if (loaderRole(backend, isLeader).loads) return null;
  return `${action} runs on the leader only: storage-backend is s3 and all units share one store (juju run offline-registry/leader ${action} ...)`;
}
