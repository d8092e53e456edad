// The charm's records of what was loaded: the catalog (path:tag -> upstream host and digest, read by
// the relation's mirrors and list-images), the images resource's last load, disk usage. Light on
// purpose: every hook reads these; the loader itself (src/loading.ts) is imported only to load.
import fs from 'node:fs';
import path from 'node:path';
import type { Catalog, LoadReport } from './images/index.js';
import { formatBytes } from './format.js';
import { readJsonFile, writeJsonFile } from './localstate.js';
import type { UnitPaths } from './registry/index.js';
import { type LastLoadRecord, lastLoadPath } from './cos/facts.js';

export { formatBytes };

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
  const free = filesystemSpace(paths.defaultDataDir)?.free ?? null;
  const needed = attempt ? attempt.sources.reduce((n, s) => n + pathSize(s), 0) - attempt.bytesPushed : 0;
  if (!explicit && !(free !== null && needed > free)) return null;
  const detail = free !== null && needed > 0 ? `${formatBytes(free)} free, the images need up to ${formatBytes(needed)} more` : 'the disk is full';
  return `no space left on the registry data filesystem (${paths.defaultDataDir}: ${detail}): free space (remove-images, garbage-collect) or attach larger registry-data storage, then load again`;
}

/** Bytes free (for unprivileged writers) and in all on the filesystem holding `dir`. */
function filesystemSpace(dir: string): { free: number; total: number } | null {
  try {
    const stat = fs.statfsSync(dir);
    return { free: stat.bavail * stat.bsize, total: stat.blocks * stat.bsize };
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
  const space = filesystemSpace(dir);
  return space && space.total > 0 ? 1 - space.free / space.total : null;
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

const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 3)}...` : text);

/**
 * Records how a load of the images resource went: a failed one keeps the unit blocked (with
 * this message) until the resource loads cleanly.
 */
export function recordResourceLoad(paths: UnitPaths, resource: string, fingerprint: string, report: LoadReport): void {
  const failures = loadFailures(report);
  const name = path.basename(resource);
  const problem = failures.length
    ? (noSpaceProblem(failures, paths, { sources: [resource], bytesPushed: report.bytesPushed }) ??
      `images resource ${name}: ${summary(report).failed} failed (${truncate(failures[0], 300)}${failures.length > 1 ? '; ...' : ''}); run the load-images action for details`)
    : undefined;
  writeResourceLoad(paths, { fingerprint, ok: failures.length === 0, problem });
  recordLastLoad(paths, resource, report);
}

/** When and how the last load (of the resource or by load-images) went, for the metrics exporter. */
export function recordLastLoad(paths: UnitPaths, source: string, report: LoadReport): void {
  const counts = summary(report);
  const record: LastLoadRecord = { at: Math.floor(Date.now() / 1000), ok: counts.failed === 0, source, pushed: counts.loaded, failed: counts.failed, bytesPushed: report.bytesPushed };
  writeJsonFile(lastLoadPath(paths), record, 0o644);
}

export function loadFailures(report: LoadReport): string[] {
  return [
    ...report.images.filter((i) => i.status === 'failed' || i.status === 'conflict').map((i) => `${i.reference}: ${i.message ?? i.status}`),
    ...report.errors.map((e) => `${e.source}: ${e.message}`),
  ];
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
