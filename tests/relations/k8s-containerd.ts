// What Canonical Kubernetes' charm (canonical/k8s-operator charms/worker/k8s/src/containerd.py)
// does with its `containerd-custom-registries` option, reproduced line for line so tests can
// check end to end what our `k8s-custom-registries` value does to a k8s node:
//   parse_registries: yaml.safe_load, pydantic TypeAdapter(List[Registry]) with extra="forbid"
//     (lax v2 coercions, url checked as pydantic.AnyHttpUrl, base64 ca/cert/key decoded), then
//     duplicate hosts refused;
//   ensure_registry_configs: hosts.d/<host>/hosts.toml (tomli_w.dumps of the Registry's dict),
//     ca.crt / client.crt / client.key, every file 0600 root:root, and every hosts.toml whose
//     host is not configured removed (its whole directory in current releases).
// Two releases differ in ways that matter to us; `release` picks one:
//   'current' (56a5ebd: YAML, host defaults to urlparse(url).netloc, rmtree of unmanaged dirs);
//   'legacy'  (0cf113c: json.loads, host defaults to AnyHttpUrl(url).host = no port, unlink of
//             the unmanaged hosts.toml only).
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';

export type K8sCharmRelease = 'current' | 'legacy';

/** The validated Registry: the model's fields after validation (ca/cert/key decoded to text). */
export interface K8sRegistry {
  url: string;
  host: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  ca_file?: string;
  cert_file?: string;
  key_file?: string;
  skip_verify?: boolean;
  override_path?: boolean;
}

/** What makes the k8s charm refuse the option (ValueError / ValidationError: unit Blocked). */
export class K8sRegistriesError extends Error {
  constructor(message: string) {
    super(`Failed to apply containerd_custom_registries: ${message}`);
    this.name = 'K8sRegistriesError';
  }
}

type Py = unknown;
const isDict = (v: Py): v is Record<string, Py> => typeof v === 'object' && v !== null && !Array.isArray(v);

// pydantic v2 lax-mode validators for the field types used by the model.
function laxStr(v: Py, loc: string): string {
  if (typeof v === 'string') return v;
  throw new K8sRegistriesError(`${loc}: Input should be a valid string`);
}
function optional<T>(inner: (v: Py, loc: string) => T) {
  return (v: Py, loc: string): T | null => (v === null ? null : inner(v, loc));
}
const BOOL_STRINGS: Record<string, boolean> = {
  0: false, off: false, f: false, false: false, n: false, no: false,
  1: true, on: true, t: true, true: true, y: true, yes: true,
};
function laxBool(v: Py, loc: string): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && (v === 0 || v === 1)) return v === 1;
  if (typeof v === 'string' && v.toLowerCase() in BOOL_STRINGS) return BOOL_STRINGS[v.toLowerCase()]!;
  throw new K8sRegistriesError(`${loc}: Input should be a valid boolean`);
}

/**
 * pydantic.AnyHttpUrl(v): pydantic-core parses with the rust `url` crate (WHATWG URL standard,
 * like Node's URL), then requires scheme http/https and a host (pydantic >= 2.10 constraints).
 */
function anyHttpUrl(v: string, loc: string): URL {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new K8sRegistriesError(`${loc}: Input should be a valid URL, relative URL without a base`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new K8sRegistriesError(`${loc}: URL scheme should be 'http' or 'https'`);
  if (!url.hostname) throw new K8sRegistriesError(`${loc}: URL host required`);
  return url;
}

/** urllib.parse.urlparse(url).netloc: what follows `scheme://` up to the first / ? or #. */
function urlparseNetloc(url: string): string {
  const m = url.match(/^[A-Za-z][A-Za-z0-9+.-]*:(.*)$/s);
  const rest = m ? m[1]! : url;
  if (!rest.startsWith('//')) return '';
  return rest.slice(2).split(/[/?#]/, 1)[0]!;
}

/**
 * base64.b64decode(v.encode()).decode(): binascii.a2b_base64 in non-strict mode (characters
 * outside the alphabet skipped, decoding stops at a complete pad, an incomplete quad is an
 * error), then strict UTF-8.
 */
export function pythonB64decodeText(v: string, loc: string): string {
  const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const bytes: number[] = [];
  let quadPos = 0;
  let leftchar = 0;
  let pads = 0;
  let done = false;
  for (const ch of Buffer.from(v, 'utf8').toString('latin1')) {
    if (ch === '=') {
      if (quadPos >= 2 && quadPos + ++pads >= 4) {
        done = true;
        break;
      }
      continue;
    }
    const value = ALPHABET.indexOf(ch);
    if (value < 0) continue;
    pads = 0;
    switch (quadPos) {
      case 0:
        quadPos = 1;
        leftchar = value;
        break;
      case 1:
        quadPos = 2;
        bytes.push((leftchar << 2) | (value >> 4));
        leftchar = value & 0x0f;
        break;
      case 2:
        quadPos = 3;
        bytes.push((leftchar << 4) | (value >> 2));
        leftchar = value & 0x03;
        break;
      default:
        quadPos = 0;
        bytes.push((leftchar << 6) | value);
        leftchar = 0;
    }
  }
  if (!done && quadPos !== 0) {
    throw new K8sRegistriesError(
      quadPos === 1 ? `${loc}: Value error, Invalid base64-encoded string` : `${loc}: Value error, Incorrect padding`,
    );
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    throw new K8sRegistriesError(`${loc}: Value error, 'utf-8' codec can't decode bytes`);
  }
}

const FIELDS = ['url', 'host', 'username', 'password', 'identitytoken', 'ca_file', 'cert_file', 'key_file', 'skip_verify', 'override_path'] as const;

/** Registry(**item): the pydantic model with extra="forbid", its validators and __init__. */
export function validateRegistry(item: Py, idx: number, release: K8sCharmRelease = 'current'): K8sRegistry {
  if (!isDict(item)) throw new K8sRegistriesError(`${idx}: Input should be a valid dictionary or instance of Registry`);
  const loc = (f: string) => `${idx}.${f}`;
  for (const key of Object.keys(item)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw new K8sRegistriesError(`${loc(key)}: Extra inputs are not permitted`);
  }
  if (!('url' in item)) throw new K8sRegistriesError(`${loc('url')}: Field required`);
  const url = laxStr(item.url, loc('url'));
  anyHttpUrl(url, loc('url')); // validate_url
  const r: K8sRegistry = { url, host: 'host' in item ? laxStr(item.host, loc('host')) : '' };
  for (const f of ['username', 'password', 'identitytoken'] as const) {
    if (f in item) {
      const v = optional(laxStr)(item[f], loc(f));
      if (v !== null) r[f] = v;
    }
  }
  for (const f of ['ca_file', 'cert_file', 'key_file'] as const) {
    if (!(f in item)) continue;
    const v = optional(laxStr)(item[f], loc(f));
    // parse_base64 also runs on an explicit None: v.encode() raises AttributeError, which the
    // charm's on_error does not catch (the hook errors). Refused either way.
    if (v === null) throw new K8sRegistriesError(`${loc(f)}: AttributeError: 'NoneType' object has no attribute 'encode'`);
    r[f] = pythonB64decodeText(v, loc(f));
  }
  for (const f of ['skip_verify', 'override_path'] as const) {
    if (f in item) {
      const v = optional(laxBool)(item[f], loc(f));
      if (v !== null) r[f] = v;
    }
  }
  // __init__: default host from the url.
  if (!r.host) {
    const host = release === 'current' ? urlparseNetloc(r.url) : anyHttpUrl(r.url, loc('url')).hostname;
    if (host) r.host = host;
  }
  return r;
}

/** parse_registries: the option's string to validated registries, or K8sRegistriesError. */
export function parseK8sRegistries(value: string, release: K8sCharmRelease = 'current'): K8sRegistry[] {
  let parsed: Py;
  if (release === 'current') {
    // PyYAML's Reader refuses non-printable characters before parsing.
    const bad = value.match(/[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u);
    if (bad) throw new K8sRegistriesError(`not valid YAML: unacceptable character #x${bad[0].codePointAt(0)!.toString(16).padStart(4, '0')}: special characters are not allowed`);
    // YAML 1.1 line breaks PyYAML folds even inside quoted strings; the port does not model that.
    if (/[\x85\u2028\u2029]/.test(value)) throw new Error('raw NEL/LS/PS: PyYAML folds them as line breaks (not modelled by this port); escape them');
    try {
      // yaml.safe_load: YAML 1.1, duplicate keys allowed (last wins).
      parsed = parseYaml(value || '[]', { version: '1.1', uniqueKeys: false });
    } catch (e) {
      throw new K8sRegistriesError(`not valid YAML: ${(e as Error).message}`);
    }
  } else {
    if (!value) return [];
    try {
      parsed = JSON.parse(value);
    } catch (e) {
      throw new K8sRegistriesError(`not valid JSON: ${(e as Error).message}`);
    }
  }
  if (!Array.isArray(parsed)) throw new K8sRegistriesError('Input should be a valid list');
  const registries = parsed.map((item, i) => validateRegistry(item, i, release));
  const counts = new Map<string, number>();
  for (const r of registries) counts.set(r.host, (counts.get(r.host) ?? 0) + 1);
  const dupes = [...counts].filter(([, n]) => n > 1).map(([h]) => h);
  if (dupes.length) throw new K8sRegistriesError(`duplicate host definitions: ${dupes.join(',')}`);
  return registries;
}

// ---- hosts.d rendering ----

type Toml = string | boolean | Toml[] | { [k: string]: Toml };

/** Registry.auth_config_header. */
function authConfigHeader(r: K8sRegistry): Record<string, string> {
  if (r.username && r.password) return { Authorization: `Basic ${Buffer.from(`${r.username}:${r.password}`).toString('base64')}` };
  if (r.identitytoken) return { Authorization: `Bearer ${r.identitytoken}` };
  return {};
}

const paths = (hostsd: string, r: K8sRegistry) => ({
  ca: path.posix.join(hostsd, r.host, 'ca.crt'),
  cert: path.posix.join(hostsd, r.host, 'client.crt'),
  key: path.posix.join(hostsd, r.host, 'client.key'),
  hostsToml: path.posix.join(hostsd, r.host, 'hosts.toml'),
});

/** Registry.hosts_toml: the dict tomli_w dumps. */
export function hostsTomlData(r: K8sRegistry, hostsd: string): { [k: string]: Toml } {
  const p = paths(hostsd, r);
  const hostConfig: { [k: string]: Toml } = { capabilities: ['pull', 'resolve'] };
  if (r.ca_file) hostConfig.ca = p.ca;
  if (r.cert_file && r.key_file) hostConfig.client = [[p.cert, p.key]];
  else if (r.cert_file) hostConfig.client = p.cert;
  if (r.skip_verify) hostConfig.skip_verify = true;
  if (r.override_path) hostConfig.override_path = true;
  const header = authConfigHeader(r);
  if (Object.keys(header).length) hostConfig.header = header;
  return { server: r.url, host: { [r.url]: hostConfig } };
}

// tomli_w.dumps (indent=4, multiline_strings=False) for the value types hosts_toml uses.
const BARE_KEY = /^[A-Za-z0-9_-]+$/;
const COMPACT_ESCAPES: Record<string, string> = { '\b': '\\b', '\n': '\\n', '\f': '\\f', '\r': '\\r', '"': '\\"', '\\': '\\\\' };
function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.charCodeAt(0);
    const illegal = ch === '"' || ch === '\\' || ((code < 32 || code === 127) && ch !== '\t');
    if (!illegal) out += ch;
    else out += COMPACT_ESCAPES[ch] ?? `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}
const formatKeyPart = (k: string) => (BARE_KEY.test(k) ? k : tomlString(k));
function formatLiteral(v: Toml, nest = 0): string {
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return tomlString(v);
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    const indent = '    '.repeat(1 + nest);
    return `[\n${v.map((item) => indent + formatLiteral(item, nest + 1)).join(',\n')},\n${'    '.repeat(nest)}]`;
  }
  throw new Error('inline tables are not used by hosts_toml');
}
function* genTableChunks(table: { [k: string]: Toml }, name: string): Generator<string> {
  let yielded = false;
  const literals: Array<[string, Toml]> = [];
  const tables: Array<[string, { [k: string]: Toml }]> = [];
  for (const [k, v] of Object.entries(table)) {
    if (typeof v === 'object' && !Array.isArray(v)) tables.push([k, v]);
    else literals.push([k, v]);
  }
  const body = literals.map(([k, v]) => `${formatKeyPart(k)} = ${formatLiteral(v)}\n`).join('');
  if (name && (literals.length || !tables.length)) {
    yielded = true;
    yield `[${name}]\n${body}`;
  } else if (literals.length) {
    yielded = true;
    yield body;
  }
  for (const [k, v] of tables) {
    if (yielded) yield '\n';
    else yielded = true;
    const key = formatKeyPart(k);
    yield* genTableChunks(v, name ? `${name}.${key}` : key);
  }
}
export function tomliWDumps(obj: { [k: string]: Toml }): string {
  return [...genTableChunks(obj, '')].join('');
}

/** _ensure_file: parents made, content written when it differs, chmod, chown. */
function ensureFile(file: string, data: string, mode: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== data) fs.writeFileSync(file, data);
  fs.chmodSync(file, mode);
  if (process.getuid?.() === 0) fs.chownSync(file, 0, 0);
}

function globHostsToml(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name === 'hosts.toml') out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}

/** ensure_registry_configs(registries) with hostsd_path() = `hostsd`. */
export function ensureK8sRegistryConfigs(registries: K8sRegistry[], hostsd: string, release: K8sCharmRelease = 'current'): void {
  const unneeded = new Set(globHostsToml(hostsd).map((f) => path.basename(path.dirname(f))));
  for (const r of registries) {
    unneeded.delete(r.host);
    const p = paths(hostsd, r);
    // ensure_certificates
    for (const [field, file] of [['ca_file', p.ca], ['cert_file', p.cert], ['key_file', p.key]] as const) {
      if (r[field]) ensureFile(file, r[field]!, 0o600);
      else fs.rmSync(file, { force: true });
    }
    // ensure_hosts_toml
    ensureFile(p.hostsToml, tomliWDumps(hostsTomlData(r, hostsd)), 0o600);
  }
  for (const h of unneeded) {
    if (release === 'current') fs.rmSync(path.join(hostsd, h), { recursive: true, force: true });
    else fs.rmSync(path.join(hostsd, h, 'hosts.toml'), { force: true });
  }
}

/** The option value through the k8s charm: validated, then hosts.d converged. */
export function applyK8sCustomRegistries(value: string, hostsd: string, release: K8sCharmRelease = 'current'): K8sRegistry[] {
  const registries = parseK8sRegistries(value, release);
  ensureK8sRegistryConfigs(registries, hostsd, release);
  return registries;
}
