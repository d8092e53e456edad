// Docker-style image references: parse, normalise, and map to the path this registry serves.
// Grammar from distribution/reference (regexp.go, normalize.go).

export interface ImageReference {
  host: string; // e.g. docker.io, registry.k8s.io, rocks.canonical.com:443
  repository: string; // path without the host, e.g. library/nginx
  tag?: string;
  digest?: string; // algorithm:hex
}

export const DEFAULT_HOST = 'docker.io';
const LEGACY_DEFAULT_HOST = 'index.docker.io';
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME = 255;

export class ReferenceError extends Error {
  constructor(
    readonly reference: string,
    problem: string,
  ) {
    super(`invalid image reference ${JSON.stringify(reference)}: ${problem}`);
    this.name = 'ReferenceError';
  }
}

/** Parses and normalises like Docker: `nginx` -> docker.io/library/nginx:latest. */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): ImageReference {
  const ref = input.trim();
  if (!ref) throw new ReferenceError(input, 'empty reference');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ReferenceError(input, `malformed digest ${JSON.stringify(digest)}`);
    if (digest.startsWith('sha256:') && !SHA256.test(digest)) {
      throw new ReferenceError(input, 'a sha256 digest needs exactly 64 lowercase hex characters');
    }
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ReferenceError(input, `malformed tag ${JSON.stringify(tag)} (letters, digits, '_', '.', '-', at most 128)`);
  }
  if (!rest) throw new ReferenceError(input, 'missing repository name');
  const parts = rest.split('/');
  let host = DEFAULT_HOST;
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    host = parts.shift()!;
    if (!HOST.test(host)) throw new ReferenceError(input, `malformed registry host ${JSON.stringify(host)}`);
  }
  if (host === LEGACY_DEFAULT_HOST) host = DEFAULT_HOST;
  // A host part with upper case is legal; upper case in the path is not.
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      const why = /[A-Z]/.test(part) ? 'repository names must be lowercase' : `malformed path component ${JSON.stringify(part)}`;
      throw new ReferenceError(input, why);
    }
  }
  if (host === DEFAULT_HOST && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (host.length + 1 + repository.length > MAX_NAME) throw new ReferenceError(input, `name longer than ${MAX_NAME} characters`);
  if (!tag && !digest && opts.defaultTag !== false) tag = 'latest';
  return { host, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The full normalised form, e.g. docker.io/library/nginx:latest (tag and digest when both are set). */
export function formatReference(ref: ImageReference): string {
  return `${ref.host}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Repository path without the host plus tag (or digest when there is no tag): what this registry stores. */
export function registryPath(ref: string | ImageReference): string {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  return r.tag ? `${r.repository}:${r.tag}` : `${r.repository}@${r.digest}`;
}

/** True when a string is usable as a tag on its own. */
export function isTag(s: string): boolean {
  return TAG.test(s);
}
