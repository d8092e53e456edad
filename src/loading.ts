// Loading image archives on the unit into the writer instance, recording what was loaded.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { type ImageResult, type LoadReport, type ProgressEvent, loadImages } from './images/index.js';
import { createRegistryClient, mapLimit } from './images/remote/index.js';
import { readJsonFile, writeJsonFile } from './localstate.js';
import { catalogHosts, readCatalog, refreshUsage, writeCatalog } from './records.js';
import type { UnitPaths } from './registry/index.js';
import type { LayerCompression } from './settings.js';

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
  // The writer is docker-registry, which checks every blob PUT against its ?digest= before it
  // commits it: the loader checks sizes and leaves the hashing to it (one hash of each byte, not two).
  const registry = createRegistryClient({ baseUrl: request.writerUrl }, { registryVerifiesDigests: true });
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

