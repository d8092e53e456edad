// Every system path the charm touches hangs off one root (OFFLINE_REGISTRY_ROOT, "/" on a unit),
// so tests run the real charm inside a temp dir.
import path from 'node:path';

export interface UnitPaths {
  root: string;
  configDir: string; // rendered registry configs, TLS material, htpasswd
  stateDir: string; // the charm's own bookkeeping
  defaultDataDir: string; // registry blobs when no registry-data storage is attached
  systemdDir: string;
  packageDir: string; // a registry binary taken from the registry-package resource
}

export function unitPaths(root = process.env.OFFLINE_REGISTRY_ROOT || '/'): UnitPaths {
  const at = (...parts: string[]) => path.join(root, ...parts);
  return {
    root,
    configDir: at('etc/offline-registry'),
    stateDir: at('var/lib/offline-registry'),
    defaultDataDir: at('var/lib/offline-registry/data'),
    systemdDir: at('etc/systemd/system'),
    packageDir: at('opt/offline-registry'),
  };
}
