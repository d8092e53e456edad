// Loading image archives on the unit: where they come from (the images resource, a path given to
// load-images), what was loaded (the catalog the relation's mirrors and list-images read), and
// whether the resource changed since the last successful load (a stat, no read).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { type Catalog, type ImageResult, type LoadReport, type ProgressEvent, loadImages } from './images/index.js';
import { createRegistryClient, mapLimit } from './images/remote/index.js';
import { readJsonFile, writeJsonFile } from './localstate.js';
import type { UnitPaths } from './registry/index.js';
import type { LayerCompression } from './settings.js';

export interface ResourceLoadRecord {
  fingerprint: string;
  ok: boolean;
  /** Why the last load of this fingerprint failed (blocked status until a new resource loads). */
  problem?: string;
}

const files = (paths: UnitPaths) => ({
  catalog: path.join(paths.stateDir, 'catalog.json'),
  resourceLoad: path.join(paths.stateDir, 'images-resource.json'),
  usage: path.join(paths.stateDir, 'usage.json'),
});

export interface Usage { blobs: number; bytes: number }

/** Bytes the registry's blobs take, as last counted (after a load, a removal or a collection). */
export function readUsage(paths: UnitPaths): Usage {
  return readJsonFile<Usage>(files(paths).usage, { blobs: 0, bytes: 0 });
}

export async function refreshUsage(paths: UnitPaths): Promise<Usage> {
  const { blobUsage } = await import('./day2/gc.js');
  const usage = await blobUsage(paths.defaultDataDir);
  writeJsonFile(files(paths).usage, usage, 0o644);
  return usage;
}

/**
 * Whether a failed load ran out of disk. distribution answers a full disk with a bare 500
 * ("unknown error (filesystem)"), so besides an explicit ENOSPC the test is arithmetic: the
 * archives could not fit in what is free now (failed uploads are cancelled, freeing their bytes).
 */
export function noSpaceProblem(failures: string[], paths: UnitPaths, attempt?: { sources: string[]; bytesPushed: number }): string | null {
  if (!failures.length) return null;
  const explicit = failures.some((f) => /no space left|ENOSPC|disk quota/i.test(f));
  const free = filesystemFree(paths.defaultDataDir);
  const needed = attempt ? attempt.sources.reduce((n, s) => n + pathSize(s), 0) - attempt.bytesPushed : 0;
  if (!explicit && !(free !== null && needed > free)) return null;
  const detail = free !== null && needed > 0 ? `${formatBytes(free)} free, the images need up to ${formatBytes(needed)} more` : 'the disk is full';
  return `no space left on the registry data filesystem (${paths.defaultDataDir}: ${detail}): free space (remove-images, garbage-collect) or attach larger registry-data storage, then load again`;
}

function filesystemFree(dir: string): number | null {
  try {
    const stat = fs.statfsSync(dir);
    return stat.bavail * stat.bsize;
  } catch {
    return null;
  }
}

/** Bytes of a file, or of every file under a directory. */
function pathSize(target: string): number {
  try {
    const stat = fs.statSync(target);
    if (!stat.isDirectory()) return stat.size;
    return fs.readdirSync(target).reduce((n, name) => n + pathSize(path.join(target, name)), 0);
  } catch {
    return 0;
  }
}

/** How full the filesystem holding `dir` is, 0..1; null when it cannot be told. */
export function filesystemFill(dir: string): number | null {
  try {
    const stat = fs.statfsSync(dir);
    const total = stat.blocks * stat.bsize;
    return total > 0 ? 1 - (stat.bavail * stat.bsize) / total : null;
  } catch {
    return null;
  }
}

export function readCatalog(paths: UnitPaths): Catalog {
  return readJsonFile<Catalog>(files(paths).catalog, {});
}

export function writeCatalog(paths: UnitPaths, catalog: Catalog): void {
  writeJsonFile(files(paths).catalog, catalog, 0o644);
}

/** Upstream hosts of every image served (docker.io, registry.k8s.io, rocks.canonical.com:443, ...). */
export function catalogHosts(catalog: Catalog): string[] {
  return [...new Set(Object.values(catalog).map((e) => e.host))].sort();
}

/** Identity of a file's content as far as a stat can tell; null when there is nothing to load. */
export function fileFingerprint(file: string | null): string | null {
  if (!file) return null;
  try {
    const stat = fs.statSync(file);
    if (stat.isFile() && stat.size === 0) return null; // Juju's placeholder for "not supplied"
    return `${file}:${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return null;
  }
}

export function readResourceLoad(paths: UnitPaths): ResourceLoadRecord | null {
  return readJsonFile<ResourceLoadRecord | null>(files(paths).resourceLoad, null);
}

export function writeResourceLoad(paths: UnitPaths, record: ResourceLoadRecord): void {
  writeJsonFile(files(paths).resourceLoad, record, 0o644);
}

export interface LoadRequest {
  sources: string[];
  writerUrl: string;
  paths: UnitPaths;
  layerCompression: LayerCompression;
  dryRun?: boolean;
  nameForUnnamed?: string;
  onProgress?: (event: ProgressEvent) => void;
}

/** What a source (file or directory) looked like when it last loaded cleanly, and the tags it gave. */
interface SourceRecord {
  fingerprint: string;
  tags: Record<string, { digest: string; reference: string; host: string }>;
}

const sourcesFile = (paths: UnitPaths) => path.join(paths.stateDir, 'sources.json');

/**
 * Identity of a source as far as stats can tell (every file's path, size and mtime), plus the
 * options that change what a load pushes. Reading no content is what makes a reload cheap.
 */
export function sourceFingerprint(source: string, options: string): string | null {
  const parts: string[] = [options];
  const walk = (p: string): boolean => {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(p);
    } catch {
      return false;
    }
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name));
    } else {
      parts.push(`${p}:${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`);
    }
    return true;
  };
  return walk(path.resolve(source)) ? crypto.createHash('sha256').update(parts.join('\n')).digest('hex') : null;
}

/** Loads into the writer instance and records the result in the catalog (unless a dry run). */
export async function loadIntoRegistry(request: LoadRequest): Promise<LoadReport> {
  const started = Date.now();
  const registry = createRegistryClient({ baseUrl: request.writerUrl });
  try {
    const workDir = path.join(request.paths.stateDir, 'tmp');
    fs.mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const records = readJsonFile<Record<string, SourceRecord>>(sourcesFile(request.paths), {});
    const options = JSON.stringify([request.layerCompression, request.nameForUnnamed ?? '']);

    // A source unchanged since it last loaded cleanly, whose tags all still point at the same
    // manifests, is not read again: the registry holds a manifest only with all its blobs.
    const unchanged: ImageResult[] = [];
    const toLoad: string[] = [];
    for (const source of request.sources) {
      const key = path.resolve(source);
      const record = records[key];
      const fingerprint = sourceFingerprint(source, options);
      if (record && fingerprint === record.fingerprint && (await tagsStillServed(registry, record))) {
        for (const [tagPath, tag] of Object.entries(record.tags)) {
          const image: ImageResult = { reference: tag.reference, path: tagPath, host: tag.host, digest: tag.digest, status: 'present', bytesPushed: 0, source };
          unchanged.push(image);
          request.onProgress?.({ image: tagPath, source, status: 'present', bytes: 0, totalBytes: 0, seconds: (Date.now() - started) / 1000, bytesPerSecond: 0 });
        }
      } else {
        toLoad.push(source);
      }
    }

    const catalog = readCatalog(request.paths);
    const report: LoadReport = toLoad.length
      ? await loadImages(toLoad, {
          registry,
          layerCompression: request.layerCompression,
          dryRun: request.dryRun,
          catalog,
          nameForUnnamed: request.nameForUnnamed || undefined,
          onProgress: request.onProgress,
          workDir,
        })
      : { images: [], errors: [], bytesPushed: 0, seconds: 0, catalog, hosts: catalogHosts(catalog) };
    report.images.unshift(...unchanged);
    report.seconds = (Date.now() - started) / 1000;

    if (!request.dryRun) {
      writeCatalog(request.paths, report.catalog);
      for (const source of toLoad) {
        const key = path.resolve(source);
        const fingerprint = sourceFingerprint(source, options);
        const mine = report.images.filter((i) => path.resolve(i.source.split('!')[0]).startsWith(key));
        const clean = mine.every((i) => i.status === 'pushed' || i.status === 'present') && !report.errors.some((e) => path.resolve(e.source.split('!')[0]).startsWith(key));
        if (fingerprint && clean && mine.length) {
          records[key] = { fingerprint, tags: Object.fromEntries(mine.map((i) => [i.path, { digest: i.digest!, reference: i.reference, host: i.host }])) };
        } else {
          delete records[key];
        }
      }
      writeJsonFile(sourcesFile(request.paths), records, 0o644);
      if (toLoad.length) await refreshUsage(request.paths);
    }
    return report;
  } finally {
    registry.close();
  }
}

async function tagsStillServed(registry: { hasManifest(repo: string, ref: string): Promise<string | null> }, record: SourceRecord): Promise<boolean> {
  const entries = Object.entries(record.tags);
  if (!entries.length) return false;
  const answers = await mapLimit(entries, 8, async ([tagPath, tag]) => {
    const colon = tagPath.lastIndexOf(':');
    return (await registry.hasManifest(tagPath.slice(0, colon), tagPath.slice(colon + 1)).catch(() => null)) === tag.digest;
  });
  return answers.every(Boolean);
}

export function loadFailures(report: LoadReport): string[] {
  return [
    ...report.images.filter((i) => i.status === 'failed' || i.status === 'conflict').map((i) => `${i.reference}: ${i.message ?? i.status}`),
    ...report.errors.map((e) => `${e.source}: ${e.message}`),
  ];
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function summary(report: LoadReport): { loaded: number; present: number; skipped: number; failed: number } {
  const count = (...statuses: string[]) => report.images.filter((i) => statuses.includes(i.status)).length;
  return {
    loaded: count('pushed', 'would-push'),
    present: count('present'),
    skipped: count('skipped'),
    failed: count('failed', 'conflict') + report.errors.length,
  };
}
