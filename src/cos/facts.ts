// The charm's own facts as Prometheus metrics: what is served, the last load's outcome, the
// certificate's expiry, the data filesystem. Read fresh from the unit's records on every scrape
// (the exporter process serves them), so a dashboard shows a load failure the moment it happens.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { readJsonFile } from '../localstate.js';
import type { UnitPaths } from '../registry/paths.js';

/** What the last load (the images resource or the load-images action) did, as the exporter reports it. */
export interface LastLoadRecord {
  /** Unix time (seconds) the load finished. */
  at: number;
  ok: boolean;
  source: string;
  pushed: number;
  failed: number;
  bytesPushed: number;
}

const lastLoadFile = (paths: UnitPaths) => path.join(paths.stateDir, 'last-load.json');

export function readLastLoad(paths: UnitPaths): LastLoadRecord | null {
  return readJsonFile<LastLoadRecord | null>(lastLoadFile(paths), null);
}

export function lastLoadPath(paths: UnitPaths): string {
  return lastLoadFile(paths);
}

export interface Facts {
  images: number;
  /** null when the blobs are in a store shared by all units (s3), which this unit does not count. */
  storedBytes: number | null;
  blobs: number | null;
  lastLoad: LastLoadRecord | null;
  /** Unix time (seconds) the served certificate expires; null without TLS. */
  certificateExpiry: number | null;
  filesystem: { size: number; avail: number } | null;
}

function readOr<T>(file: string, fallback: T): T {
  try {
    return readJsonFile<T>(file, fallback);
  } catch {
    return fallback; // a half-written file: report what can be read, never fail the scrape
  }
}

/** Reads the facts from the unit's files; `certFile` is the public instance's certificate (absent without TLS). */
export function gatherFacts(paths: UnitPaths, certFile?: string, opts: { sharedStore?: boolean } = {}): Facts {
  const catalog = readOr<Record<string, unknown>>(path.join(paths.stateDir, 'catalog.json'), {});
  const usage = readOr<{ blobs: number; bytes: number }>(path.join(paths.stateDir, 'usage.json'), { blobs: 0, bytes: 0 });
  let certificateExpiry: number | null = null;
  try {
    if (certFile) certificateExpiry = Math.floor(new Date(new crypto.X509Certificate(fs.readFileSync(certFile)).validTo).getTime() / 1000);
  } catch {
    // no TLS (or no certificate yet)
  }
  let filesystem: Facts['filesystem'] = null;
  try {
    const stat = fs.statfsSync(paths.defaultDataDir);
    filesystem = { size: stat.blocks * stat.bsize, avail: stat.bavail * stat.bsize };
  } catch {
    // the data directory is not there yet
  }
  return {
    images: Object.keys(catalog).length,
    storedBytes: opts.sharedStore ? null : usage.bytes,
    blobs: opts.sharedStore ? null : usage.blobs,
    lastLoad: readOr<LastLoadRecord | null>(lastLoadFile(paths), null),
    certificateExpiry,
    filesystem,
  };
}

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** The Prometheus text exposition (version 0.0.4) of `facts`. */
export function renderFacts(facts: Facts): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, value: number, labels?: Record<string, string>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    const rendered = labels ? `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '';
    lines.push(`${name}${rendered} ${value}`);
  };
  gauge('offline_registry_images', 'Image tags the registry serves.', facts.images);
  // Not known on a shared store: no series rather than a false 0.
  if (facts.storedBytes !== null) gauge('offline_registry_stored_bytes', 'Bytes of the blobs in the registry, as last counted.', facts.storedBytes);
  if (facts.blobs !== null) gauge('offline_registry_blobs', 'Blobs in the registry, as last counted.', facts.blobs);
  if (facts.lastLoad) {
    const { lastLoad } = facts;
    gauge('offline_registry_last_load_timestamp_seconds', 'When the last load (images resource or load-images) finished.', lastLoad.at, { source: path.basename(lastLoad.source) });
    gauge('offline_registry_last_load_success', '1 when the last load loaded everything, 0 when something failed.', lastLoad.ok ? 1 : 0);
    gauge('offline_registry_last_load_failed', 'Images (and archives) the last load failed on.', lastLoad.failed);
    gauge('offline_registry_last_load_pushed_bytes', 'Bytes the last load pushed.', lastLoad.bytesPushed);
  }
  if (facts.certificateExpiry !== null) {
    gauge('offline_registry_certificate_expiry_timestamp_seconds', 'When the public registry certificate expires.', facts.certificateExpiry);
  }
  if (facts.filesystem) {
    const { size, avail } = facts.filesystem;
    gauge('offline_registry_data_filesystem_size_bytes', 'Size of the filesystem holding the registry data.', size);
    gauge('offline_registry_data_filesystem_avail_bytes', 'Bytes free (to unprivileged writers) on the registry data filesystem.', avail);
    gauge('offline_registry_data_filesystem_used_ratio', 'How full the registry data filesystem is, 0 to 1.', size > 0 ? Number((1 - avail / size).toFixed(6)) : 0);
  }
  return `${lines.join('\n')}\n`;
}
