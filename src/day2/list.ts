// list-images: every repository:tag the registry serves, with digest, kind, platforms and stored size.
import { formatBytes } from '../format.js';
import { MEDIA_TYPES, mapLimit, type RegistryClient } from '../images/remote/index.js';
import type { Catalog, ImageRow } from './served.js';

export type { Catalog, CatalogEntry, ImageRow } from './served.js';

export type ListClient = Pick<RegistryClient, 'catalog' | 'tags' | 'getManifest'>;

export interface ListOptions {
  /** Substring, or a glob with * and ? matched against the whole path or reference (case-insensitive). */
  filter?: string;
  /** Registry requests in flight at once (default 16). */
  concurrency?: number;
  log?: (line: string) => Promise<void>;
}

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList]);

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: { os?: string; architecture?: string; variant?: string };
  annotations?: Record<string, string>;
}

interface ParsedManifest {
  bytes: number;
  mediaType: string;
  digest: string;
  /** Image manifest: config + layers. */
  blobs: Descriptor[];
  /** Index: child manifests. */
  manifests: Descriptor[];
}

/** A predicate for `filter`: glob when it has * or ?, else substring; empty or absent matches all. */
export function compileFilter(filter?: string): (...candidates: Array<string | undefined>) => boolean {
  const f = (filter ?? '').trim().toLowerCase();
  if (!f) return () => true;
  if (/[*?]/.test(f)) {
    const re = new RegExp(`^${f.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    return (...c) => c.some((s) => s !== undefined && re.test(s.toLowerCase()));
  }
  return (...c) => c.some((s) => s !== undefined && s.toLowerCase().includes(f));
}

function isDescriptor(d: unknown): d is Descriptor {
  const x = d as Descriptor;
  return !!x && typeof x.digest === 'string' && typeof x.size === 'number';
}

export function parseManifest(bytes: Buffer, mediaType: string, digest: string, what: string): ParsedManifest {
  let json: { mediaType?: string; config?: unknown; layers?: unknown; manifests?: unknown };
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error(`manifest ${what} is not JSON; the registry holds a corrupt manifest (remove and reload that image)`);
  }
  const type = mediaType || json.mediaType || '';
  const manifests = Array.isArray(json.manifests) ? json.manifests.filter(isDescriptor) : [];
  const layers = Array.isArray(json.layers) ? json.layers.filter(isDescriptor) : [];
  const blobs = isDescriptor(json.config) ? [json.config, ...layers] : layers;
  return { bytes: bytes.length, mediaType: type, digest, blobs, manifests: INDEX_TYPES.has(type) || (!blobs.length && manifests.length) ? manifests : [] };
}

/** os/arch[/variant]; null for attestation and unknown-platform entries, which are not runnable images. */
export function platformOf(d: Descriptor): string | null {
  if (d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return null;
  const p = d.platform;
  if (!p?.os || !p.architecture || p.os === 'unknown') return null;
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** At most `limit` calls of the returned runner in flight; calls wait their turn in order. */
function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: Array<() => void> = [];
  return async (fn) => {
    if (active >= limit) await new Promise<void>((r) => queue.push(r));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      queue.shift()?.();
    }
  };
}

export async function listImages(client: ListClient, catalog: Catalog = {}, opts: ListOptions = {}): Promise<ImageRow[]> {
  const concurrency = opts.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`list-images: concurrency must be a positive integer, got ${concurrency}`);
  const matches = compileFilter(opts.filter);
  const repos = await client.catalog();
  const tagLists = await mapLimit(repos, concurrency, (repo) => client.tags(repo));

  const wanted: Array<{ repo: string; tag: string; path: string; host?: string; reference?: string }> = [];
  repos.forEach((repo, i) => {
    for (const tag of tagLists[i]) {
      const path = `${repo}:${tag}`;
      const host = catalog[path]?.host;
      const reference = host ? `${host}/${path}` : undefined;
      if (matches(path, reference)) wanted.push({ repo, tag, path, host, reference });
    }
  });

  // One bound for every manifest request, tags and index children alike; children are cached per repo@digest.
  const run = limiter(concurrency);
  const cache = new Map<string, Promise<ParsedManifest | null>>();
  const fetchManifest = (repo: string, reference: string): Promise<ParsedManifest | null> =>
    run(async () => {
      const m = await client.getManifest(repo, reference);
      return m ? parseManifest(m.bytes, m.mediaType, m.digest, `${repo}:${reference}`) : null;
    });
  const child = (repo: string, digest: string): Promise<ParsedManifest | null> => {
    const key = `${repo}@${digest}`;
    let p = cache.get(key);
    if (!p) cache.set(key, (p = fetchManifest(repo, digest)));
    return p;
  };

  const rowFor = async (w: (typeof wanted)[number]): Promise<ImageRow | null> => {
    const top = await fetchManifest(w.repo, w.tag);
    if (!top) {
      // Deleted between the tag listing and now.
      await opts.log?.(`${w.path}: tag listed but its manifest is gone; skipped`);
      return null;
    }
    const row: ImageRow = { path: w.path, digest: top.digest, mediaType: top.mediaType, size: 0 };
    if (w.reference) row.reference = w.reference;
    if (w.host) row.host = w.host;
    const counted = new Set<string>();
    let size = top.bytes;
    const addBlobs = (m: ParsedManifest): void => {
      for (const b of m.blobs) {
        if (counted.has(b.digest)) continue;
        counted.add(b.digest);
        size += b.size;
      }
    };
    if (top.manifests.length) {
      row.platforms = [];
      row.children = top.manifests.map((d) => d.digest);
      const missing: string[] = [];
      const seen = new Set<string>([top.digest]);
      // Nested indexes are walked too; `seen` stops a malicious cycle.
      const walk = async (m: ParsedManifest): Promise<void> => {
        const children = await Promise.all(
          m.manifests.map(async (d) => ({ d, m: seen.has(d.digest) ? undefined : (seen.add(d.digest), await child(w.repo, d.digest)) })),
        );
        for (const { d, m: c } of children) {
          const platform = platformOf(d);
          if (c === undefined) continue;
          if (c === null) {
            missing.push(platform ?? d.digest);
            continue;
          }
          if (platform && !c.manifests.length) row.platforms!.push(platform);
          if (!counted.has(c.digest)) {
            counted.add(c.digest);
            size += c.bytes;
          }
          addBlobs(c);
          if (c.manifests.length) await walk(c);
        }
      };
      await walk(top);
      if (missing.length) row.missingPlatforms = missing;
    } else {
      addBlobs(top);
    }
    row.size = size;
    return row;
  };

  const settled = await Promise.allSettled(wanted.map(rowFor));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled
    .map((s) => (s as PromiseFulfilledResult<ImageRow | null>).value)
    .filter((r): r is ImageRow => r !== null)
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const KIND: Record<string, string> = {
  [MEDIA_TYPES.ociIndex]: 'oci index',
  [MEDIA_TYPES.dockerManifestList]: 'docker list',
  [MEDIA_TYPES.ociManifest]: 'oci image',
  [MEDIA_TYPES.dockerManifest]: 'docker image',
};

/** A fixed-width table for action-log; sizes count shared blobs in every image that uses them. */
export function formatTable(rows: readonly ImageRow[]): string {
  if (!rows.length) return 'no images';
  const header = ['IMAGE', 'DIGEST', 'KIND', 'PLATFORMS', 'SIZE'];
  const body = rows.map((r) => [
    r.reference ?? r.path,
    r.digest.replace(/^sha256:/, '').slice(0, 12),
    KIND[r.mediaType] ?? (r.mediaType || 'unknown'),
    r.platforms ? [r.platforms.join(','), r.missingPlatforms?.length ? `(missing ${r.missingPlatforms.join(',')})` : ''].filter(Boolean).join(' ') || '-' : '-',
    formatBytes(r.size),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const total = rows.reduce((sum, r) => sum + r.size, 0);
  return [line(header), ...body.map(line), `${rows.length} image${rows.length === 1 ? '' : 's'}, ${formatBytes(total)} (blobs shared between images counted in each)`].join('\n');
}
