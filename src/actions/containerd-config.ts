// containerd-config: containerd settings that serve this registry's mirrors, for a containerd next
// to the relation (custom_registries), one NOT related to it (standalone), or containerd >= 1.7
// hosts using config_path (one hosts.toml per mirrored upstream host).
import fs from 'node:fs';
import type { CharmDeps } from '../charm.js';
import { actionFail, actionSet, configGet } from '../juju/index.js';
import { catalogHosts, readCatalog } from '../records.js';
import { customRegistriesNextToRelation, customRegistriesStandalone, hostsToml, mirrorHosts } from '../relations/index.js';
import { securityFiles } from '../security.js';
import { parseSettings } from '../settings.js';
import { readEndpoint } from './get-credentials.js';

export const CA_FILE_NAME = 'offline-registry-ca.crt';

export async function containerdConfigAction(deps: CharmDeps): Promise<void> {
  const { runner, paths } = deps;
  const settings = parseSettings(await configGet(runner));
  const endpoint = readEndpoint(deps);
  if (!endpoint) return actionFail(runner, 'the registry is not set up yet: wait for the unit to be active (juju status)');
  const files = securityFiles(paths);
  const caPem = settings.tls && fs.existsSync(files.ca) ? fs.readFileSync(files.ca, 'utf8') : undefined;
  const password = settings.auth ? settings.authPassword || (fs.existsSync(files.password) ? fs.readFileSync(files.password, 'utf8').trim() : '') : '';
  const info = { netloc: endpoint.netloc, tls: settings.tls, caPem, auth: settings.auth && password ? { user: settings.authUser, password } : undefined };
  const mirrors = mirrorHosts(catalogHosts(readCatalog(paths)), endpoint.netloc);

  const hosts: Record<string, unknown> = {};
  mirrors.forEach((host, i) => {
    hosts[String(i + 1)] = {
      host,
      path: `/etc/containerd/certs.d/${host}/hosts.toml`,
      'hosts-toml': hostsToml(host, info, `/etc/containerd/certs.d/${host}/${CA_FILE_NAME}`),
    };
  });
  await actionSet(runner, {
    netloc: endpoint.netloc,
    mirrors: mirrors.join(' '),
    'custom-registries': JSON.stringify(customRegistriesNextToRelation(endpoint.netloc, mirrors)),
    // The standalone form carries the password: it is for the operator to paste into juju config.
    'custom-registries-standalone': JSON.stringify(customRegistriesStandalone(info, mirrors)),
    'hosts-toml': hosts,
    ...(caPem ? { 'ca-cert': caPem, 'ca-file-name': CA_FILE_NAME } : {}),
  });
}
