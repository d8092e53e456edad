// containerd-config: containerd settings that serve this registry's mirrors, for a containerd next
// to the relation (custom_registries), one NOT related to it (standalone), or containerd >= 1.7
// hosts using config_path (one hosts.toml per mirrored upstream host), or Canonical Kubernetes.
import { actionSet } from '../juju/index.js';
import { catalogHosts, readCatalog } from '../records.js';
import { customRegistriesNextToRelation, customRegistriesStandalone, hostsToml, mirrorHosts } from '../relations/index.js';
import { k8sCustomRegistriesValue } from '../relations/k8s-registries.js';
import { action, registryAccess } from './common.js';

export const CA_FILE_NAME = 'offline-registry-ca.crt';

export const containerdConfigAction = action(async (deps) => {
  const access = await registryAccess(deps);
  const info = { netloc: access.netloc, tls: access.tls, caPem: access.caPem, auth: access.auth };
  const mirrors = mirrorHosts(catalogHosts(readCatalog(deps.paths)), access.netloc);

  const hosts: Record<string, unknown> = {};
  mirrors.forEach((host, i) => {
    hosts[String(i + 1)] = {
      host,
      path: `/etc/containerd/certs.d/${host}/hosts.toml`,
      'hosts-toml': hostsToml(host, info, `/etc/containerd/certs.d/${host}/${CA_FILE_NAME}`),
    };
  });
  await actionSet(deps.runner, {
    netloc: access.netloc,
    mirrors: mirrors.join(' '),
    'custom-registries': JSON.stringify(customRegistriesNextToRelation(access.netloc, mirrors)),
    // The standalone form carries the password: it is for the operator to paste into juju config.
    'custom-registries-standalone': JSON.stringify(customRegistriesStandalone(info, mirrors)),
    'hosts-toml': hosts,
    // For Canonical Kubernetes (`juju config k8s containerd-custom-registries=...`); with auth it
    // carries the password, like the standalone form.
    'k8s-custom-registries': k8sCustomRegistriesValue(info, mirrors),
    ...(access.caPem ? { 'ca-cert': access.caPem, 'ca-file-name': CA_FILE_NAME } : {}),
  });
});
