// containerd-config: containerd settings that serve this registry's mirrors, for a containerd next
// to the relation (custom_registries), one NOT related to it (standalone), or containerd >= 1.7
// hosts using config_path (one hosts.toml per mirrored upstream host), or Canonical Kubernetes.
//
// hosts.toml lists every unit's registry, in unit order (the lowest-numbered first, as the
// containerd charm picks offline-registry/0's relation data), so containerd fails over to the next
// unit without DNS and every unit gives the same files. With http-host (one name for all units)
// it lists that name only. custom_registries and the k8s value stay one entry per host: those
// charms refuse two entries for one host.
import { type CharmDeps } from '../charm.js';
import { servedCertFile } from '../certificates/index.js';
import { actionSet, configGet } from '../juju/index.js';
import { catalogHosts, readCatalog } from '../records.js';
import { customRegistriesNextToRelation, customRegistriesStandalone, hostsToml, mirrorHosts } from '../relations/index.js';
import { k8sCustomRegistriesValue } from '../relations/k8s-registries.js';
import { securityFiles } from '../security.js';
import { type Settings, parseSettings } from '../settings.js';
import { certCoversHost, peerRegistries } from '../sync/index.js';
import { type RegistryAccess, action, registryAccess } from './common.js';

export const CA_FILE_NAME = 'offline-registry-ca.crt';

export const containerdConfigAction = action(async (deps) => {
  // One config-get (an agent round trip) for both the access and the endpoint list.
  const settings = parseSettings(await configGet(deps.runner));
  const access = await registryAccess(deps, settings);
  const info = { netloc: access.netloc, tls: access.tls, caPem: access.caPem, auth: access.auth };
  const mirrors = mirrorHosts(catalogHosts(readCatalog(deps.paths)), access.netloc);
  const units = await unitEndpoints(deps, access, settings);

  const hosts: Record<string, unknown> = {};
  mirrors.forEach((host, i) => {
    hosts[String(i + 1)] = {
      host,
      path: `/etc/containerd/certs.d/${host}/hosts.toml`,
      'hosts-toml': hostsToml(host, info, `/etc/containerd/certs.d/${host}/${CA_FILE_NAME}`, { endpoints: units.endpoints }),
    };
  });
  // The standalone form carries the password: it is for the operator to paste into juju config.
  // Over plain HTTP with auth the containerd charm cannot send it, but the other forms still work
  // (the k8s charm sends a fixed Authorization header): say why it is missing rather than fail.
  let standalone: Record<string, string>;
  try {
    standalone = { 'custom-registries-standalone': JSON.stringify(customRegistriesStandalone(info, mirrors)) };
  } catch (err) {
    standalone = { 'custom-registries-standalone-unavailable': (err as Error).message };
  }
  await actionSet(deps.runner, {
    netloc: access.netloc,
    mirrors: mirrors.join(' '),
    'custom-registries': JSON.stringify(customRegistriesNextToRelation(access.netloc, mirrors)),
    ...standalone,
    'hosts-toml': hosts,
    // The registries each hosts.toml lists, in the order containerd tries them.
    'hosts-toml-endpoints': units.endpoints.join(' '),
    ...(units.notes.length ? { 'hosts-toml-notes': units.notes.join('; ') } : {}),
    // For Canonical Kubernetes (`juju config k8s containerd-custom-registries=...`); with auth it
    // carries the password, like the standalone form.
    'k8s-custom-registries': k8sCustomRegistriesValue(info, mirrors),
    ...(access.caPem ? { 'ca-cert': access.caPem, 'ca-file-name': CA_FILE_NAME } : {}),
  });
});

/**
 * The registries hosts.toml lists: with http-host its one name; else every unit's published
 * registry-url (this unit's too, so every unit gives the same list), in unit order. A unit whose
 * certificate is not valid for its address is left out (containerd would refuse its TLS), and so
 * is one that has published no address yet; `notes` says which and why. Without the peer relation
 * (or with every unit left out) it is this unit's netloc.
 */
async function unitEndpoints(deps: CharmDeps, access: RegistryAccess, settings: Settings): Promise<{ endpoints: string[]; notes: string[] }> {
  if (settings.httpHost) return { endpoints: [access.netloc], notes: [] };
  const notes: string[] = [];
  const endpoints: string[] = [];
  for (const unit of await peerRegistries(deps.runner, deps.ctx.unitName)) {
    if (!unit.url) {
      notes.push(`${unit.unit} left out: it has not published its registry address yet`);
      continue;
    }
    const netloc = new URL(unit.url).host;
    if (access.tls && unit.cert && unit.cert !== 'ok') {
      notes.push(`${unit.unit} (${netloc}) left out: ${unit.cert}; add its address to tls-sans or set http-host`);
      continue;
    }
    endpoints.push(netloc);
  }
  if (!endpoints.length) {
    const own = access.tls ? certCoversHost(servedCertFile(deps.paths, securityFiles(deps.paths).cert), new URL(access.url).hostname) : 'ok';
    if (own !== 'ok') notes.push(`${deps.ctx.unitName} (${access.netloc}): ${own}`);
    endpoints.push(access.netloc);
  }
  return { endpoints, notes };
}
