// Provider side of the `docker-registry` relation (juju-solutions/interface-docker-registry) and
// the containerd settings that go with it: custom_registries entries for mirrored upstream hosts
// and containerd hosts.toml files. Pure: data in, data out.
import { validatePassword, validateUsername } from '../auth/credentials.js';

export interface RegistryEndpointInfo {
  /** host:port the clients use, e.g. 10.0.0.7:5000. */
  netloc: string;
  tls: boolean;
  /** PEM of the CA that signed the registry's server certificate. */
  caPem?: string;
  auth?: { user: string; password: string };
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?)(:\d{1,5})?$/;

export function checkNetloc(netloc: string): void {
  if (!HOST_PORT.test(netloc)) {
    throw new Error(`registry address ${JSON.stringify(netloc)} must be host:port without a scheme, e.g. 10.0.0.7:5000`);
  }
}

export function checkAuth(auth: RegistryEndpointInfo['auth']): void {
  if (!auth) return;
  const problem = validateUsername(auth.user) ?? validatePassword(auth.password);
  if (problem) throw new Error(problem);
}

/** What the requirer's `received` does with each value: JSON-decode, else keep the raw string. */
export function decodeRelationValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * The provider unit's relation data, every value JSON-encoded as reactive `to_publish` does.
 * `mirrors` are upstream hosts to serve (as from mirrorHosts); they are published for information
 * and as the ready-made `custom_registries` value for `juju config containerd custom_registries=...`.
 */
export function providerUnitData(info: RegistryEndpointInfo, mirrors: string[]): Record<string, string> {
  checkNetloc(info.netloc);
  checkAuth(info.auth);
  const hosts = dedupeSorted(mirrors).filter((h) => !sameRegistryHost(h, info.netloc));
  return {
    registry_netloc: JSON.stringify(info.netloc),
    registry_url: JSON.stringify(`${info.tls ? 'https' : 'http'}://${info.netloc}`),
    basic_user: info.auth ? JSON.stringify(info.auth.user) : 'null',
    basic_password: info.auth ? JSON.stringify(info.auth.password) : 'null',
    tls_ca: info.tls && info.caPem ? JSON.stringify(info.caPem) : 'null',
    mirrors: JSON.stringify(hosts),
    custom_registries: JSON.stringify(JSON.stringify(customRegistriesNextToRelation(info.netloc, hosts))),
  };
}

function dedupeSorted(xs: string[]): string[] {
  return [...new Set(xs)].sort();
}

/** Splits "host:port" / "[v6]:port" / "host" into host and port (undefined when absent). */
function splitHostPort(value: string): { host: string; port?: string } {
  const m = value.match(/^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/);
  if (!m) return { host: value };
  return { host: m[1]!, port: m[2] };
}

/** Whether `a` and `b` name the same registry once the default https port is accounted for. */
export function sameRegistryHost(a: string, b: string): boolean {
  const x = splitHostPort(a.toLowerCase());
  const y = splitHostPort(b.toLowerCase());
  return x.host === y.host && (x.port ?? '443') === (y.port ?? '443');
}

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io']);

/**
 * The mirror keys containerd needs for the given upstream registry hosts. containerd keys mirrors
 * by the image reference's host exactly as written, port included, so a host without a port is
 * also given as host:443 and host:443 also as host. Docker Hub is keyed `docker.io` only: the CRI
 * normalises `nginx`, `library/nginx` and `index.docker.io/...` references to docker.io.
 * Scheme or path around a host is dropped; the result is sorted and deduplicated, without
 * `ownNetloc` (the registry itself must never be a mirror of itself).
 */
export function mirrorHosts(upstreamHosts: string[], ownNetloc?: string): string[] {
  const out = new Set<string>();
  for (const raw of upstreamHosts) {
    const value = raw.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/\/.*$/, '');
    if (!value) continue;
    if (!HOST_PORT.test(value)) {
      throw new Error(`upstream registry ${JSON.stringify(raw)} is not a host or host:port (e.g. rocks.canonical.com or quay.io:443)`);
    }
    if (DOCKER_HUB_ALIASES.has(value)) {
      out.add('docker.io');
      continue;
    }
    const { host, port } = splitHostPort(value);
    if (port === undefined || port === '443') {
      out.add(host);
      out.add(`${host}:443`);
    } else {
      out.add(value);
    }
  }
  return [...out].filter((h) => !(ownNetloc && sameRegistryHost(h, ownNetloc))).sort();
}

/**
 * custom_registries entries for the containerd charm to use next to the relation: one
 * `{host: <upstream>, url: <netloc>}` per mirrored host, url scheme-less so containerd's lookup
 * of auth/TLS by host:port finds the relation's entry. Never an entry for the netloc itself:
 * the charm appends the relation's entry without a duplicate check, and a second
 * `mirrors."<netloc>"` table makes its config.toml invalid.
 */
export function customRegistriesNextToRelation(netloc: string, mirrors: string[]): Array<{ host: string; url: string }> {
  checkNetloc(netloc);
  return dedupeSorted(mirrors)
    .filter((h) => !sameRegistryHost(h, netloc))
    .map((host) => ({ host, url: netloc }));
}

/**
 * custom_registries for a containerd charm NOT related to the registry: first the registry's own
 * entry carrying username/password and ca_file (base64 of the CA PEM), then mirror entries with
 * host and url only (the configs table keyed by the netloc serves them all; repeating credentials
 * would repeat that TOML table). Plain HTTP registries get http:// urls and cannot carry auth:
 * containerd looks its auth up by host:port, which an http:// url never matches.
 */
export function customRegistriesStandalone(info: RegistryEndpointInfo, mirrors: string[]): Array<Record<string, string | boolean>> {
  checkNetloc(info.netloc);
  checkAuth(info.auth);
  if (!info.tls && info.auth) {
    throw new Error('a plain-HTTP registry cannot pass credentials to containerd through custom_registries; enable TLS');
  }
  const url = info.tls ? info.netloc : `http://${info.netloc}`;
  const own: Record<string, string | boolean> = { url };
  if (info.auth) {
    own.username = info.auth.user;
    own.password = info.auth.password;
  }
  if (info.tls && info.caPem) own.ca_file = Buffer.from(info.caPem).toString('base64');
  return [own, ...customRegistriesNextToRelation(info.netloc, mirrors).map((m) => ({ host: m.host, url }))];
}

/** The real upstream endpoint of a registry host (Docker Hub's API is not served at docker.io). */
export function upstreamServer(upstreamHost: string): string {
  return DOCKER_HUB_ALIASES.has(upstreamHost.toLowerCase()) ? 'https://registry-1.docker.io' : `https://${upstreamHost}`;
}

/** TOML basic string; JSON string syntax is a subset TOML accepts. */
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/**
 * containerd's `certs.d/<upstream>/hosts.toml` (docs/hosts.md) sending pulls for `upstreamHost`
 * to the registry. `opts.endpoints` (host:port, default `info.netloc`) are the units' registries in
 * the order containerd tries them: one `[host."..."]` table each, and containerd moves on to the
 * next when one does not answer (or fails), before the upstream `server`. Credentials are not part
 * of hosts.toml unless `opts.authHeader` asks for a Basic Authorization header (the file then holds
 * a secret: write it 0600).
 */
export function hostsToml(upstreamHost: string, info: RegistryEndpointInfo, caPath: string, opts: { authHeader?: boolean; endpoints?: string[] } = {}): string {
  const endpoints = opts.endpoints?.length ? [...new Set(opts.endpoints)] : [info.netloc];
  for (const netloc of endpoints) checkNetloc(netloc);
  if (opts.authHeader && info.auth) checkAuth(info.auth);
  const scheme = info.tls ? 'https' : 'http';
  const lines = [`server = ${tomlString(upstreamServer(upstreamHost))}`];
  for (const netloc of endpoints) {
    const table = `host.${tomlString(`${scheme}://${netloc}`)}`;
    lines.push('', `[${table}]`, '  capabilities = ["pull", "resolve"]');
    if (info.tls) lines.push(`  ca = ${tomlString(caPath)}`);
    if (opts.authHeader && info.auth) {
      const token = Buffer.from(`${info.auth.user}:${info.auth.password}`).toString('base64');
      lines.push(`  [${table}.header]`, `    Authorization = [${tomlString(`Basic ${token}`)}]`);
    }
  }
  return `${lines.join('\n')}\n`;
}
