// The value for Canonical Kubernetes' `juju config k8s containerd-custom-registries=...`
// (canonical/k8s-operator charms/worker/k8s/src/containerd.py): there is no registry relation,
// the operator pastes what containerd-config returns. The k8s charm turns each entry into
// `hosts.d/<host>/hosts.toml` (+ ca.crt) with basic auth as a fixed Authorization header, so
// every entry carries the CA and the credentials itself. Pure: data in, data out.
import { type RegistryEndpointInfo, checkAuth, checkNetloc, sameRegistryHost } from './docker-registry.js';

/** One entry of the k8s charm's Registry model; only keys its model accepts (extra="forbid"). */
export interface K8sCustomRegistry {
  host: string;
  url: string;
  /** base64 of the CA PEM: the model decodes it and writes hosts.d/<host>/ca.crt. */
  ca_file?: string;
  username?: string;
  password?: string;
}

/**
 * The registry's own netloc first, then one entry per mirrored upstream host (as from
 * mirrorHosts), all with `url` = this registry. `host` is always given: the k8s charm's default
 * for it changed over releases (url's hostname without the port in older ones, the netloc in
 * newer ones), and containerd looks `<netloc>/...` references up in `hosts.d/<host:port>/`.
 * Hosts are unique (the model refuses duplicates).
 */
export function k8sCustomRegistries(info: RegistryEndpointInfo, mirrors: string[]): K8sCustomRegistry[] {
  checkNetloc(info.netloc);
  checkAuth(info.auth);
  if (info.tls && !info.caPem) {
    throw new Error('the registry CA is not on this unit yet: wait for the unit to be active (juju status), then run containerd-config again');
  }
  const url = `${info.tls ? 'https' : 'http'}://${info.netloc}`;
  const hosts = [info.netloc, ...[...new Set(mirrors)].filter((h) => !sameRegistryHost(h, info.netloc)).sort()];
  return hosts.map((host) => {
    const entry: K8sCustomRegistry = { host, url };
    if (info.tls) entry.ca_file = Buffer.from(info.caPem!).toString('base64');
    if (info.auth) {
      entry.username = info.auth.user;
      entry.password = info.auth.password;
    }
    return entry;
  });
}

// The k8s charm reads the option with PyYAML (YAML 1.1): it refuses characters outside its
// printable set (C1 controls, U+FFFE/U+FFFF) and folds NEL, LS and PS as line breaks, even in a
// quoted string. JSON \u escapes mean the same in JSON and in a YAML double-quoted string.
const NOT_PLAIN_FOR_PYYAML = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/g;

/** k8sCustomRegistries as the option's text: JSON that PyYAML reads back unchanged. */
export function k8sCustomRegistriesValue(info: RegistryEndpointInfo, mirrors: string[]): string {
  return JSON.stringify(k8sCustomRegistries(info, mirrors)).replace(NOT_PLAIN_FOR_PYYAML, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
