// Push client for the OCI distribution API (a CNCF distribution registry v2), modelled on
// go-containerregistry's `remote` package: blobs first (skip, mount or monolithic upload), manifests last.
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { httpError, RegistryError } from './errors.js';
import { Transport, withRetries, type RawResponse, type RequestOptions, type RetryPolicy } from './http.js';
import { apiUrl, baseDir, checkReference, checkRepo, checkSha256Digest, describeRef, isDigest, nextLink, parseBaseUrl, uploadCompleteUrl } from './names.js';
import { DigestVerifier } from './verify.js';

export { RegistryError, BlobVerificationError, parseDistributionErrors, type DistributionError } from './errors.js';
export { mapLimit } from './limit.js';
export { DigestVerifier } from './verify.js';

export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** Every manifest kind we push or read; sent as Accept so the registry never converts a manifest. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = Object.values(MEDIA_TYPES);

export interface RegistryEndpoint {
  /** http://127.0.0.1:5001 or https://registry.example */
  baseUrl: string;
  username?: string;
  password?: string;
  /** PEM to trust for https; when set it is the only trusted CA. */
  ca?: string;
}

export interface RegistryClientOptions {
  /** Retries after the first try on connection errors and 5xx (default 3, so 4 tries). */
  maxRetries?: number;
  /** First retry delay in ms, doubling each time (default 200). */
  retryBaseMs?: number;
  /** Sockets per agent (default 8). */
  maxSockets?: number;
  /** Socket idle timeout in ms (default 60000). */
  timeoutMs?: number;
  /** Entries asked per page of _catalog and tags/list (default 1000, the registry's default maximum). */
  pageSize?: number;
  /**
   * The registry verifies `?digest=` of every blob PUT before committing it (docker-registry does):
   * uploads then check only sizes locally instead of hashing every byte a second time (default false).
   */
  registryVerifiesDigests?: boolean;
}

export interface RegistryClient {
  /** GET /v2/; throws RegistryError (status 401 when credentials are missing or wrong). */
  ping(): Promise<{ status: number; apiVersion: string | null }>;
  /** HEAD a blob: its size when present, null when absent. */
  hasBlob(repo: string, digest: string): Promise<number | null>;
  /** Cross-repository mount: true when mounted (201), false when not (the opened upload is cancelled). */
  mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean>;
  /** Monolithic upload streamed from `open()`, verified against digest and size before the last chunk leaves. */
  uploadBlob(repo: string, digest: string, size: number, open: () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream>): Promise<void>;
  getManifest(repo: string, reference: string, accept?: string[]): Promise<{ bytes: Buffer; mediaType: string; digest: string } | null>;
  /** GET a blob as a stream (not verified here: the consumer checks its digest, e.g. uploadBlob); null when absent. */
  openBlob(repo: string, digest: string): Promise<NodeJS.ReadableStream | null>;
  /** HEAD a manifest: its digest, or null when absent. */
  hasManifest(repo: string, reference: string): Promise<string | null>;
  /** PUT the exact bytes; returns the digest. */
  putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string>;
  deleteManifest(repo: string, digest: string): Promise<void>;
  catalog(): Promise<string[]>;
  /** All tags of a repository; [] when the repository does not exist. */
  tags(repo: string): Promise<string[]>;
}

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function header(res: RawResponse, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseJson<T>(what: string, res: RawResponse): T {
  try {
    return JSON.parse(res.body.toString()) as T;
  } catch {
    throw new RegistryError(`${what}: the registry answered HTTP ${res.status} with a body that is not JSON`, { status: res.status });
  }
}

class HttpRegistryClient implements RegistryClient {
  private readonly base: URL;
  private readonly transport: Transport;
  private readonly retry: RetryPolicy;
  private readonly pageSize: number;
  private readonly hashLocally: boolean;

  constructor(endpoint: RegistryEndpoint, opts: RegistryClientOptions) {
    this.hashLocally = opts.registryVerifiesDigests !== true;
    this.base = parseBaseUrl(endpoint.baseUrl);
    this.retry = { maxRetries: opts.maxRetries ?? 3, retryBaseMs: opts.retryBaseMs ?? 200 };
    this.pageSize = opts.pageSize ?? 1000;
    this.transport = new Transport({
      base: this.base,
      username: endpoint.username,
      password: endpoint.password,
      ca: endpoint.ca,
      maxSockets: opts.maxSockets ?? 8,
      timeoutMs: opts.timeoutMs ?? 60_000,
      maxBodyBytes: 32 * 1024 * 1024,
    });
  }

  /** One request with retries; `ok` statuses are returned, 404 too when `allow404`, anything else throws. */
  private async call(what: string, method: string, url: URL, ok: number[], options: RequestOptions & { allow404?: boolean } = {}): Promise<RawResponse> {
    return withRetries(what, this.retry, () => this.once(what, method, url, ok, options));
  }

  private async once(what: string, method: string, url: URL, ok: number[], options: RequestOptions & { allow404?: boolean } = {}): Promise<RawResponse> {
    const res = await this.transport.request(method, url, options);
    if (ok.includes(res.status) || (options.allow404 && res.status === 404)) return res;
    throw httpError(what, res.status, res.body);
  }

  /** Best effort: an abandoned upload session would otherwise linger until the registry purges it. */
  private async cancelUpload(location: URL): Promise<void> {
    await this.transport.request('DELETE', location).catch(() => undefined);
  }

  async ping(): Promise<{ status: number; apiVersion: string | null }> {
    const res = await this.call(`GET /v2/ at ${this.base.origin}`, 'GET', apiUrl(this.base, ''), [200], { followRedirects: true });
    return { status: res.status, apiVersion: header(res, 'docker-distribution-api-version') ?? null };
  }

  async hasBlob(repo: string, digest: string): Promise<number | null> {
    checkRepo(repo);
    checkSha256Digest(digest);
    const url = apiUrl(this.base, `${repo}/blobs/${digest}`);
    const res = await this.call(`HEAD blob ${repo}@${digest}`, 'HEAD', url, [200], { allow404: true, followRedirects: true });
    if (res.status === 404) return null;
    const length = Number(header(res, 'content-length'));
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RegistryError(`HEAD blob ${repo}@${digest}: the registry answered 200 without a usable Content-Length`, { status: 200 });
    }
    return length;
  }

  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    checkRepo(repo);
    checkRepo(fromRepo);
    checkSha256Digest(digest);
    const url = apiUrl(this.base, `${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepo)}`);
    const res = await this.call(`mount blob ${digest} from ${fromRepo} into ${repo}`, 'POST', url, [201, 202]);
    if (res.status === 201) return true;
    const location = header(res, 'location');
    if (location) await this.cancelUpload(new URL(location, baseDir(this.base)));
    return false;
  }

  async uploadBlob(
    repo: string,
    digest: string,
    size: number,
    open: () => NodeJS.ReadableStream | Promise<NodeJS.ReadableStream>,
  ): Promise<void> {
    checkRepo(repo);
    checkSha256Digest(digest);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`invalid size ${size} for blob ${digest}: expected a byte count >= 0`);
    const what = `upload blob ${digest} to ${repo}`;
    // Every try starts over: a fresh upload session and a fresh stream from open().
    await withRetries(what, this.retry, async () => {
      const start = await this.once(`POST blob upload to ${repo}`, 'POST', apiUrl(this.base, `${repo}/blobs/uploads/`), [202]);
      const location = header(start, 'location');
      if (!location) throw new RegistryError(`${what}: the registry answered 202 without a Location header`, { status: 202 });
      const sessionUrl = new URL(location, baseDir(this.base));
      const putUrl = uploadCompleteUrl(this.base, location, digest);
      const verifier = new DigestVerifier(digest, size, { hashLocally: this.hashLocally });
      let source: NodeJS.ReadableStream | undefined;
      let res: RawResponse;
      try {
        source = await open();
        const body = source;
        res = await this.transport.request('PUT', putUrl, {
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          stream: (req) => pipeline(body, verifier, req),
        });
      } catch (err) {
        (source as { destroy?: () => void } | undefined)?.destroy?.();
        await this.cancelUpload(sessionUrl);
        // The abort makes the socket fail too; the verification failure is the real cause.
        throw verifier.failure ?? err;
      }
      if (res.status !== 201) {
        await this.cancelUpload(sessionUrl);
        throw httpError(`PUT blob ${repo}@${digest}`, res.status, res.body);
      }
      const stored = header(res, 'docker-content-digest');
      if (stored && stored !== digest) {
        throw new RegistryError(`${what}: the registry stored it as ${stored}`, { status: res.status, code: 'DIGEST_INVALID' });
      }
    });
  }

  async getManifest(repo: string, reference: string, accept: string[] = [...MANIFEST_MEDIA_TYPES]): Promise<{ bytes: Buffer; mediaType: string; digest: string } | null> {
    checkRepo(repo);
    checkReference(reference);
    const what = `GET manifest ${describeRef(repo, reference)}`;
    const url = apiUrl(this.base, `${repo}/manifests/${reference}`);
    const res = await this.call(what, 'GET', url, [200], { headers: { accept: accept.join(', ') }, allow404: true, followRedirects: true });
    if (res.status === 404) return null;
    const bytes = res.body;
    let mediaType = (header(res, 'content-type') ?? '').split(';')[0].trim();
    if (!mediaType || mediaType === 'application/json' || mediaType === 'application/octet-stream') {
      const declared = (parseJson<{ mediaType?: unknown }>(what, res) ?? {}).mediaType;
      if (typeof declared === 'string') mediaType = declared;
    }
    const computed = sha256Digest(bytes);
    const reported = header(res, 'docker-content-digest');
    if (isDigest(reference) && reference.startsWith('sha256:') && reference !== computed) {
      throw new RegistryError(`${what}: the bytes received hash to ${computed}, not the digest asked for`, { status: 200, code: 'DIGEST_INVALID' });
    }
    if (reported && reported.startsWith('sha256:') && reported !== computed) {
      throw new RegistryError(`${what}: the registry reports digest ${reported} but the bytes hash to ${computed}`, { status: 200, code: 'DIGEST_INVALID' });
    }
    return { bytes, mediaType, digest: computed };
  }

  async openBlob(repo: string, digest: string): Promise<NodeJS.ReadableStream | null> {
    checkRepo(repo);
    checkSha256Digest(digest);
    const what = `GET blob ${repo}@${digest}`;
    const answer = await withRetries(what, this.retry, async () => {
      const r = await this.transport.openStream(apiUrl(this.base, `${repo}/blobs/${digest}`));
      if ('response' in r && r.response.status >= 500) throw httpError(what, r.response.status, r.response.body);
      return r;
    });
    if ('stream' in answer) return answer.stream;
    if (answer.response.status === 404) return null;
    throw httpError(what, answer.response.status, answer.response.body);
  }

  async hasManifest(repo: string, reference: string): Promise<string | null> {
    checkRepo(repo);
    checkReference(reference);
    const url = apiUrl(this.base, `${repo}/manifests/${reference}`);
    const res = await this.call(`HEAD manifest ${describeRef(repo, reference)}`, 'HEAD', url, [200], {
      headers: { accept: MANIFEST_MEDIA_TYPES.join(', ') },
      allow404: true,
      followRedirects: true,
    });
    if (res.status === 404) return null;
    const digest = header(res, 'docker-content-digest');
    if (digest) return digest;
    // Some registries omit the header on HEAD; the bytes settle it.
    return (await this.getManifest(repo, reference))?.digest ?? null;
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    checkRepo(repo);
    checkReference(reference);
    const what = `PUT manifest ${describeRef(repo, reference)}`;
    const computed = sha256Digest(bytes);
    if (isDigest(reference) && reference !== computed) {
      throw new Error(`${what}: these manifest bytes hash to ${computed}; push them by that digest or by a tag`);
    }
    const url = apiUrl(this.base, `${repo}/manifests/${reference}`);
    const res = await this.call(what, 'PUT', url, [201], { headers: { 'content-type': mediaType }, body: bytes });
    const reported = header(res, 'docker-content-digest');
    if (reported && reported !== computed) {
      throw new RegistryError(`${what}: the registry stored it as ${reported} but the bytes sent hash to ${computed}`, { status: res.status, code: 'DIGEST_INVALID' });
    }
    return computed;
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    checkRepo(repo);
    if (!isDigest(digest)) throw new Error(`DELETE manifest ${repo}: ${JSON.stringify(digest)} is not a digest; the registry deletes manifests by digest only`);
    await this.call(`DELETE manifest ${repo}@${digest}`, 'DELETE', apiUrl(this.base, `${repo}/manifests/${digest}`), [202]);
  }

  /** Follows Link rel="next" until the last page; `key` names the array in each page. */
  private async paginate(what: string, first: URL, key: 'repositories' | 'tags', allow404: boolean): Promise<string[]> {
    const all: string[] = [];
    const seen = new Set<string>();
    for (let url: URL | null = first; url; ) {
      if (seen.has(url.href)) throw new RegistryError(`${what}: the registry's Link header loops back to ${url.pathname}${url.search}`);
      seen.add(url.href);
      const res = await this.call(what, 'GET', url, [200], { allow404, followRedirects: true });
      if (res.status === 404) return [];
      const page = parseJson<Record<string, unknown>>(what, res);
      const items = page?.[key];
      if (Array.isArray(items)) all.push(...items.filter((x): x is string => typeof x === 'string'));
      url = nextLink(this.base, res.headers.link);
    }
    return all;
  }

  catalog(): Promise<string[]> {
    return this.paginate(`GET catalog of ${this.base.origin}`, apiUrl(this.base, `_catalog?n=${this.pageSize}`), 'repositories', false);
  }

  async tags(repo: string): Promise<string[]> {
    checkRepo(repo);
    return this.paginate(`GET tags of ${repo}`, apiUrl(this.base, `${repo}/tags/list?n=${this.pageSize}`), 'tags', true);
  }

  close(): void {
    this.transport.close();
  }
}

/** A client for one registry. `close()` drops its pooled sockets (idle ones never keep the process alive). */
export function createRegistryClient(endpoint: RegistryEndpoint, opts: RegistryClientOptions = {}): RegistryClient & { close(): void } {
  return new HttpRegistryClient(endpoint, opts);
}
