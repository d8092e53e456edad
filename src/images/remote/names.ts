// Pure helpers for names, references and URLs of the distribution API.

// Repository name grammar of the distribution spec (path components joined by '/').
const REPO_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256_RE = /^sha256:[a-f0-9]{64}$/;

export function checkRepo(repo: string): void {
  if (!REPO_RE.test(repo) || repo.length > 255) {
    throw new Error(`invalid repository name ${JSON.stringify(repo)}: use lowercase path parts like "cdk/pause" (no host, no tag)`);
  }
}

export function isDigest(reference: string): boolean {
  return DIGEST_RE.test(reference);
}

export function checkSha256Digest(digest: string): void {
  if (!SHA256_RE.test(digest)) {
    throw new Error(`invalid digest ${JSON.stringify(digest)}: expected "sha256:" followed by 64 lowercase hex digits`);
  }
}

export function checkReference(reference: string): void {
  if (!TAG_RE.test(reference) && !isDigest(reference)) {
    throw new Error(`invalid tag or digest ${JSON.stringify(reference)}: a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, a digest is algorithm:hex`);
  }
}

/** `repo:tag` or `repo@sha256:...`, the way people write image references. */
export function describeRef(repo: string, reference: string): string {
  return isDigest(reference) ? `${repo}@${reference}` : `${repo}:${reference}`;
}

/** Normalises and checks a registry base URL; keeps a path prefix without its trailing slash. */
export function parseBaseUrl(baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new Error(`invalid registry baseUrl ${JSON.stringify(baseUrl)}: expected e.g. http://127.0.0.1:5000 or https://registry.example:443`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`invalid registry baseUrl ${JSON.stringify(baseUrl)}: only http:// and https:// are supported`);
  }
  if (url.username || url.password) {
    throw new Error(`registry baseUrl must not carry credentials; pass username and password separately`);
  }
  url.search = '';
  url.hash = '';
  return url;
}

/** The base's path prefix without a trailing slash ('' for a bare origin). */
function prefix(base: URL): string {
  return base.pathname.replace(/\/+$/, '');
}

/** The base as a directory URL, to resolve relative Locations and Links against. */
export function baseDir(base: URL): string {
  return `${base.origin}${prefix(base)}/`;
}

/** `<base>/v2/<rest>` keeping any path prefix of the base. */
export function apiUrl(base: URL, rest: string): URL {
  return new URL(`${base.origin}${prefix(base)}/v2/${rest}`);
}

/**
 * The URL of the closing PUT of a monolithic upload: the upload Location (relative or absolute,
 * resolved against the base) with its query kept and `digest=` appended.
 */
export function uploadCompleteUrl(base: URL, location: string, digest: string): URL {
  const resolved = new URL(location, baseDir(base));
  resolved.hash = '';
  // Append by string so the registry's opaque _state parameter keeps its exact encoding.
  const sep = resolved.search && resolved.search !== '?' ? '&' : '?';
  const search = (resolved.search === '?' ? '' : resolved.search) + `${sep}digest=${encodeURIComponent(digest)}`;
  return new URL(`${resolved.origin}${resolved.pathname}${search}`);
}

/** The `rel="next"` target of a Link header, resolved against the base; null when there is none. */
export function nextLink(base: URL, link: string | string[] | undefined): URL | null {
  if (!link) return null;
  for (const value of Array.isArray(link) ? link : [link]) {
    for (const part of value.split(/,(?=\s*<)/)) {
      const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
      if (m && /(?:^|;)\s*rel\s*=\s*"?next"?\s*(?:;|$)/i.test(m[2])) {
        return new URL(m[1], baseDir(base));
      }
    }
  }
  return null;
}
