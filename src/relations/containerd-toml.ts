// What the containerd charm (charmed-kubernetes/charm-containerd, reactive) writes into
// /etc/containerd/config.toml for registries: its custom_registries validation, the docker.io
// default, the relation's entry appended last, and the registry part of templates/config_v2.toml
// (legacy CRI `registry.mirrors` / `registry.configs` tables), reproduced line for line so tests
// can check end to end what our relation data and custom_registries do to a Kubernetes node.
import { decodeRelationValue } from './docker-registry.js';

/** One element of the charm's merged registry list (its Registry dataclass after install_tls). */
export interface ContainerdRegistry {
  url: string;
  host: string;
  username?: string;
  password?: string | Record<string, unknown>;
  /** Paths of the TLS files the charm wrote or uses. */
  ca?: string;
  cert?: string;
  key?: string;
  insecure_skip_verify?: boolean;
}

export interface RenderOptions {
  /** The registry unit's relation data as published (JSON-encoded values); omit when not related. */
  relationData?: Record<string, string>;
  /** Where the charm writes custom_registries' TLS files. */
  configDirectory?: string;
  /** The Kubernetes node's own certificate files, which the charm gives the relation's entry. */
  nodeTls?: { ca: string; cert: string; key: string };
}

/** custom_registries the containerd charm refuses (its unit goes blocked, config.toml untouched). */
export class CustomRegistriesError extends Error {
  constructor(message: string) {
    super(`Invalid custom_registries: ${message}`);
    this.name = 'CustomRegistriesError';
  }
}

const FIELDS: Record<string, (v: unknown) => boolean> = {
  url: (v) => typeof v === 'string',
  host: (v) => v === null || v === undefined || typeof v === 'string',
  username: (v) => v === null || v === undefined || typeof v === 'string',
  password: (v) => v === null || v === undefined || typeof v === 'string' || (typeof v === 'object' && !Array.isArray(v)),
  ca_file: (v) => v === null || v === undefined || typeof v === 'string',
  cert_file: (v) => v === null || v === undefined || typeof v === 'string',
  key_file: (v) => v === null || v === undefined || typeof v === 'string',
  insecure_skip_verify: (v) => v === null || v === undefined || typeof v === 'boolean',
};

/** The charm's strip_url: drop scheme and trailing slashes, keep host:port. */
export function stripUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  const i = trimmed.indexOf('://');
  return i >= 0 ? trimmed.slice(i + 3) : trimmed;
}

// Python's base64.b64decode without validate: non-alphabet characters are dropped, then the
// data must be whole 4-character groups or properly padded.
function pythonB64Decodes(value: string): boolean {
  const cleaned = value.replace(/[^A-Za-z0-9+/=]/g, '');
  const body = cleaned.match(/^[A-Za-z0-9+/]*/)![0];
  const pad = cleaned.slice(body.length).match(/^=*/)![0].length;
  const rest = body.length % 4;
  return rest === 0 || (rest === 2 && pad >= 2) || (rest === 3 && pad >= 1);
}

/** The charm's RegistryList.from_json + insert_docker_io + install_tls, as pure data. */
export function parseCustomRegistries(customRegistries: string, configDirectory = '/etc/containerd'): ContainerdRegistry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(customRegistries);
  } catch {
    throw new CustomRegistriesError('Failed to decode json string');
  }
  if (!Array.isArray(parsed)) throw new CustomRegistriesError('custom_registries is not a list');
  const hosts = new Set<string>();
  const out: ContainerdRegistry[] = [];
  parsed.forEach((item, idx) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new CustomRegistriesError(`registry #${idx} is not in object form`);
    }
    const value = item as Record<string, unknown>;
    if (!('url' in value)) throw new CustomRegistriesError(`registry #${idx} missing required field 'url'`);
    for (const [name, ok] of Object.entries(FIELDS)) {
      if (!ok(value[name])) throw new CustomRegistriesError(`registry #${idx} field ${name}=${JSON.stringify(value[name])} has the wrong type`);
    }
    for (const name of Object.keys(value)) {
      if (!(name in FIELDS)) throw new CustomRegistriesError(`registry #${idx} field ${name} may not be specified`);
    }
    const url = value.url as string;
    const host = typeof value.host === 'string' ? value.host : stripUrl(url);
    if (hosts.has(host)) throw new CustomRegistriesError(`registry #${idx} defines ${host} more than once`);
    hosts.add(host);
    const entry: ContainerdRegistry = { url, host };
    if (typeof value.username === 'string') entry.username = value.username;
    if (value.password !== undefined && value.password !== null) entry.password = value.password as ContainerdRegistry['password'];
    for (const opt of ['ca', 'key', 'cert'] as const) {
      const b64 = value[`${opt}_file`];
      if (typeof b64 === 'string' && b64 && pythonB64Decodes(b64)) entry[opt] = `${configDirectory}/${host}.${opt}`;
    }
    if (typeof value.insecure_skip_verify === 'boolean') entry.insecure_skip_verify = value.insecure_skip_verify;
    out.push(entry);
  });
  if (!out.some((r) => r.host === 'docker.io')) out.unshift({ url: 'https://registry-1.docker.io', host: 'docker.io' });
  return out;
}

/** The entry the charm's configure_registry builds from the relation, or null until it is ready. */
export function relationRegistry(
  relationData: Record<string, string>,
  nodeTls = { ca: '/root/cdk/ca.crt', cert: '/root/cdk/server.crt', key: '/root/cdk/server.key' },
): ContainerdRegistry | null {
  const get = (k: string) => (k in relationData ? decodeRelationValue(relationData[k]!) : null);
  const netloc = get('registry_netloc');
  if (netloc === null || netloc === undefined) return null;
  const url = String(netloc);
  const entry: ContainerdRegistry = { url, host: stripUrl(url) };
  const user = get('basic_user');
  const password = get('basic_password');
  if (user !== null && password !== null) {
    entry.username = String(user);
    entry.password = String(password);
  }
  if (get('tls_ca') !== null) {
    entry.ca = nodeTls.ca;
    entry.key = nodeTls.key;
    entry.cert = nodeTls.cert;
  }
  return entry;
}

/** The registry list the charm renders: custom_registries (validated, docker.io added), then the relation's entry. */
export function mergedRegistries(customRegistries: string, opts: RenderOptions = {}): ContainerdRegistry[] {
  const list = parseCustomRegistries(customRegistries, opts.configDirectory);
  const related = opts.relationData ? relationRegistry(opts.relationData, opts.nodeTls) : null;
  if (related) list.push(related);
  return list;
}

// Python's str() of what Jinja prints: a dict password is rendered through tojson instead.
const text = (v: unknown) => (v === undefined || v === null ? 'None' : String(v));
const truthy = (v: unknown) => v !== undefined && v !== null && v !== '' && v !== false;
const CRI = '[plugins."io.containerd.grpc.v1.cri".registry';

/**
 * The `[plugins."io.containerd.grpc.v1.cri".registry]` part of the charm's config_v2.toml, as
 * its template renders it for `custom_registries` (the JSON config string) and the relation.
 * Throws CustomRegistriesError where the charm would block instead of rendering.
 */
export function renderContainerdRegistryConfig(customRegistries: string, opts: RenderOptions = {}): string {
  const registries = mergedRegistries(customRegistries, opts);
  const lines = [`    ${CRI}]`, `      ${CRI}.mirrors]`];
  for (const r of registries) {
    if (!truthy(r.host)) continue;
    lines.push(`        ${CRI}.mirrors."${text(r.host)}"]`);
    if (truthy(r.url)) lines.push(`          endpoint = ["${text(r.url)}"]`);
  }
  lines.push(`      ${CRI}.configs]`);
  for (const r of registries) {
    if (!(truthy(r.username) && truthy(r.password))) continue;
    lines.push(`        ${CRI}.configs."${text(r.url)}".auth]`, `          username = "${text(r.username)}"`);
    if (typeof r.password === 'object') lines.push(`          password = '${pythonToJson(r.password)}'`);
    else lines.push(`          password = "${text(r.password)}"`);
  }
  for (const r of registries) {
    if (!(truthy(r.ca) || truthy(r.cert) || truthy(r.key) || truthy(r.insecure_skip_verify))) continue;
    lines.push(
      `        ${CRI}.configs."${text(r.url)}".tls]`,
      `          ca_file   = "${truthy(r.ca) ? text(r.ca) : ''}"`,
      `          cert_file = "${truthy(r.cert) ? text(r.cert) : ''}"`,
      `          key_file  = "${truthy(r.key) ? text(r.key) : ''}"`,
      `          insecure_skip_verify = ${r.insecure_skip_verify ? 'true' : 'false'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

// Jinja's tojson: Python json.dumps(sort_keys=True, ensure_ascii=True), then <, >, & and '
// escaped as \u003c etc.
function pythonToJson(value: unknown): string {
  const dump = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'string') return JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
    if (Array.isArray(v)) return `[${v.map(dump).join(', ')}]`;
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${dump(k)}: ${dump(o[k])}`).join(', ')}}`;
  };
  return dump(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/'/g, '\\u0027');
}
