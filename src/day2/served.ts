// What the registry serves, as the day-2 operations see it: either rows listed live from the registry
// (authoritative) or the catalog the loader recorded (may be stale, but knows each image's upstream host).
import { parseReference, type ImageReference } from '../images/reference.js';

/** The loader's record, keyed by registry path:tag (e.g. "cdk/pause:3.9"); same shape as src/images/index.ts. */
export interface CatalogEntry {
  /** Upstream host, e.g. rocks.canonical.com:443 */
  host: string;
  digest: string;
  source?: string;
}
export type Catalog = Record<string, CatalogEntry>;

export interface ImageRow {
  /** repository:tag as the registry stores it, e.g. cdk/pause:3.9 */
  path: string;
  /** host/path:tag, only when the catalog knows the upstream host */
  reference?: string;
  digest: string;
  mediaType: string;
  /** For indexes: os/arch[/variant] of each child image (attestation entries left out). */
  platforms?: string[];
  /** For indexes: digests of the child manifests it names (present or not). */
  children?: string[];
  /** For indexes: platforms whose child manifest the registry does not hold. */
  missingPlatforms?: string[];
  /** Bytes of manifest + config + layers; for an index, over its children, each blob counted once. */
  size: number;
  host?: string;
}

export type Served = ImageRow[] | Catalog;

export interface ServedImage {
  path: string;
  repository: string;
  tag: string;
  digest: string;
  host?: string;
  children?: string[];
}

/** Lookups over what is served: by path:tag, tags per repository, digests per repository. */
export interface ServedIndex {
  byPath: Map<string, ServedImage>;
  byRepository: Map<string, ServedImage[]>;
  /** Every manifest digest held per repository: tagged ones and the children of tagged indexes. */
  digests: Map<string, Set<string>>;
}

/** "cdk/pause:3.9" -> { repository: "cdk/pause", tag: "3.9" }; the tag follows the last ':' after the last '/'. */
export function splitPath(path: string): { repository: string; tag: string } {
  const colon = path.lastIndexOf(':');
  if (colon <= path.lastIndexOf('/') || colon === path.length - 1) {
    throw new Error(`invalid registry path ${JSON.stringify(path)}: expected repository:tag, e.g. cdk/pause:3.9`);
  }
  return { repository: path.slice(0, colon), tag: path.slice(colon + 1) };
}

export function indexServed(served: Served): ServedIndex {
  const images: ServedImage[] = Array.isArray(served)
    ? served.map((r) => ({ ...splitPath(r.path), path: r.path, digest: r.digest, host: r.host, children: r.children }))
    : Object.entries(served).map(([path, e]) => ({ ...splitPath(path), path, digest: e.digest, host: e.host }));
  const index: ServedIndex = { byPath: new Map(), byRepository: new Map(), digests: new Map() };
  for (const image of images) {
    index.byPath.set(image.path, image);
    const list = index.byRepository.get(image.repository) ?? [];
    list.push(image);
    index.byRepository.set(image.repository, list);
    const digests = index.digests.get(image.repository) ?? new Set<string>();
    digests.add(image.digest);
    for (const child of image.children ?? []) digests.add(child);
    index.digests.set(image.repository, digests);
  }
  return index;
}

function splitHostPort(value: string): { host: string; port?: string } {
  const m = value.match(/^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/);
  return m ? { host: m[1], port: m[2] } : { host: value };
}

/** Canonical spelling for comparing registry hosts: lower case, without the default https port. */
export function canonicalHost(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower === 'index.docker.io') return 'docker.io';
  const { host: name, port } = splitHostPort(lower);
  return port === undefined || port === '443' ? name : `${name}:${port}`;
}

export function sameHost(a: string, b: string): boolean {
  return canonicalHost(a) === canonicalHost(b);
}

/** A set of hosts compared with sameHost (rocks.canonical.com == rocks.canonical.com:443). */
export function hostSet(hosts: readonly string[]): { has(host: string): boolean; list: string[] } {
  const set = new Set(hosts.map(canonicalHost));
  return { has: (host) => set.has(canonicalHost(host)), list: [...new Set(hosts)].sort() };
}

/**
 * The served image a parsed reference resolves to in its repository: by tag, or by digest (a tagged
 * manifest or a child of a tagged index). With both, containerd pulls by digest, so the digest decides.
 */
export function findServed(index: ServedIndex, ref: ImageReference): { image?: ServedImage; found: boolean } {
  if (ref.digest) {
    const found = index.digests.get(ref.repository)?.has(ref.digest) ?? false;
    const image = index.byRepository.get(ref.repository)?.find((i) => i.digest === ref.digest);
    return { image, found };
  }
  const image = index.byPath.get(`${ref.repository}:${ref.tag ?? 'latest'}`);
  return { image, found: image !== undefined };
}

/** Other tags served for the same repository (sorted), for "present under another tag" hints. */
export function otherTags(index: ServedIndex, ref: ImageReference): string[] {
  return (index.byRepository.get(ref.repository) ?? [])
    .map((i) => i.tag)
    .filter((t) => t !== ref.tag)
    .sort();
}

/** Parses like Docker, returning the error message instead of throwing. */
export function tryParse(input: string): { ref?: ImageReference; error?: string } {
  try {
    return { ref: parseReference(input) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** True when the reference names its registry host (first part has '.' or ':' or is localhost). */
export function hasExplicitHost(input: string): boolean {
  const name = input.trim().split('@')[0];
  const slash = name.indexOf('/');
  if (slash < 0) return false;
  const first = name.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}
