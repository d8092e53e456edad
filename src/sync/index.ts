// Several units serve the same images. The leader keeps the wanted catalog (references and
// digests) in the peer relation's app bag; every unit publishes in its unit bag where its public
// registry is and what it loaded or removed itself (its proposals), which the leader merges. Each
// unit converges to the wanted catalog by copying what it lacks from a peer's public (read-only)
// registry into its own loopback writer, and by removing what the leader's catalog removed.
//
// With a shared store (storage-backend=s3) nothing is copied: the leader alone writes the store,
// so its own record is the wanted catalog, and every other unit adopts that catalog as its record
// in each hook (it serves those images from the same bucket).
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type CommandRunner, type Status, relationGet, relationIds, relationList, relationSet } from '../juju/index.js';
import { readJsonFile, writeJsonFile } from '../localstate.js';
import type { Catalog } from '../images/index.js';
import type { Catalog as Wanted } from '../day2/served.js';
import { readCatalog, refreshUsage, writeCatalog } from '../records.js';
import type { UnitPaths } from '../registry/index.js';
import type { Settings } from '../settings.js';
import {
  type Proposals,
  type WantedCatalog,
  EMPTY_WANTED,
  byUnitNumber,
  mergeProposals,
  parseProposals,
  parseWanted,
  proposalsOf,
  recordFromWanted,
  recordedEntry,
  syncPlan,
  syncedAfter,
  wantedFromRecord,
} from './plan.js';

export const PEER_ENDPOINT = 'registry-peers';
/** App bag: the wanted catalog, as JSON. */
export const CATALOG_KEY = 'catalog';
/** App bag: per unit, the proposals the leader last merged (so a stale bag is not merged twice). */
export const APPLIED_KEY = 'catalog-applied';
/** Unit bag: where this unit's public registry is, and its proposals. */
export const NETLOC_KEY = 'registry-netloc';
export const URL_KEY = 'registry-url';
export const PROPOSALS_KEY = 'catalog-proposals';
/** Unit bag, TLS only: "ok" when this unit's served certificate names the host of its registry-url, else why not. */
export const URL_CERT_KEY = 'registry-url-cert';
/** Where a non-leader's record of an image on a shared store came from. */
export const SHARED_SOURCE = 'shared S3 store (the leader\'s catalog)';

/** Whether units copy images from each other (not with a shared store). */
export function unitSyncsFromPeers(settings: Settings): boolean {
  return settings.storage.backend !== 's3';
}

interface SyncRecord {
  /** The part of the wanted catalog this unit held after its last sync. */
  synced: Wanted;
  /** path:tag -> digest this unit loaded by action (proposed even over a tombstone). */
  explicit: Record<string, string>;
  /** The unit bag as last published. */
  published?: Record<string, string>;
  /** The last sync left images to copy: update-status retries it. */
  pending?: boolean;
  /** Shared store: this unit has held the app's catalog (published it as leader, or adopted it). */
  sharedHeld?: boolean;
}

const recordFile = (paths: UnitPaths) => path.join(paths.stateDir, 'sync.json');
const readRecord = (paths: UnitPaths) => readJsonFile<SyncRecord>(recordFile(paths), { synced: {}, explicit: {} });

/**
 * Whether this hook converges with the peers: every reconciling hook but update-status, which only
 * retries an unfinished sync. With a shared store every hook (two relation reads, no copying).
 */
export function shouldSync(paths: UnitPaths, settings: Settings, hook: string): boolean {
  if (!unitSyncsFromPeers(settings)) return true;
  return hook !== 'update-status' || readRecord(paths).pending === true;
}

/** load-images on this unit: these tags are proposed to the leader even if an earlier removal tombstoned them. */
export function recordExplicitLoads(paths: UnitPaths, tags: Array<{ path: string; digest?: string }>): void {
  const record = readRecord(paths);
  for (const t of tags) if (t.digest) record.explicit[t.path] = t.digest;
  writeJsonFile(recordFile(paths), record, 0o644);
}

export interface PeerAccess {
  /** PEM trusted for the peers' https (the app's CA or tls-ca); none for plain HTTP. */
  caPem?: string;
  auth?: { user: string; password: string };
}

export interface SyncInput {
  runner: CommandRunner;
  paths: UnitPaths;
  settings: Settings;
  unitName: string;
  appName: string;
  isLeader: () => Promise<boolean>;
  writerUrl: string;
  /** host:port of this unit's public registry as peers reach it (its own address, never a shared name). */
  peerNetloc: string;
  /** The served server certificate (TLS on): checked against peerNetloc's host for the unit bag. */
  certFile?: string;
  access: PeerAccess;
  setStatus: (status: Status) => Promise<unknown>;
  log: (message: string) => Promise<void>;
}

export interface SyncOutcome {
  /** Images of the wanted catalog this unit holds, of `wanted`. */
  held: number;
  wanted: number;
  copied: number;
  removed: number;
  /** Images no reachable peer could give (retried on the next hook). */
  unavailable: string[];
  /** The peer most images came from (for the status). */
  from?: string;
}

const stable = (value: unknown) => JSON.stringify(value, Object.keys(flatKeys(value)).sort());
function flatKeys(value: unknown, out: Record<string, true> = {}): Record<string, true> {
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out[k] = true;
      flatKeys(v, out);
    }
  }
  return out;
}

/** Converges this unit with its peers; null when there is no peer relation (yet). */
export async function convergePeers(input: SyncInput): Promise<SyncOutcome | null> {
  const { runner, paths } = input;
  const relationId = (await relationIds(runner, PEER_ENDPOINT))[0];
  if (!relationId) return null;
  if (!unitSyncsFromPeers(input.settings)) {
    await shareStoreCatalog(input, relationId);
    return null;
  }
  const [appBag, peers] = await Promise.all([relationGet(runner, relationId, input.appName, { app: true }), relationList(runner, relationId)]);
  const peerBags = Object.fromEntries(await Promise.all(peers.map(async (u) => [u, await relationGet(runner, relationId, u)] as const)));
  const record = readRecord(paths);
  let local = readCatalog(paths);
  let wanted: WantedCatalog = parseWanted(appBag[CATALOG_KEY]) ?? EMPTY_WANTED;

  if (await input.isLeader()) {
    const applied = parseJsonObject(appBag[APPLIED_KEY]);
    const fresh: Record<string, Proposals> = { [input.unitName]: proposalsOf(local, record.synced, wanted, record.explicit) };
    const nextApplied: Record<string, string> = {};
    for (const [unit, bag] of Object.entries(peerBags)) {
      const raw = bag[PROPOSALS_KEY] ?? '';
      nextApplied[unit] = raw;
      if (raw && applied[unit] !== raw) fresh[unit] = parseProposals(raw);
    }
    const merged = mergeProposals(wanted, fresh);
    const data: Record<string, string> = {};
    if (!appBag[CATALOG_KEY] || stable(merged) !== stable(wanted)) data[CATALOG_KEY] = JSON.stringify(merged);
    if (stable(nextApplied) !== stable(applied)) data[APPLIED_KEY] = JSON.stringify(nextApplied);
    if (Object.keys(data).length) await relationSet(runner, relationId, data, { app: true });
    wanted = merged;
  }

  const outcome: SyncOutcome = { held: 0, wanted: Object.keys(wanted.images).length, copied: 0, removed: 0, unavailable: [] };
  const plan = parseWanted(appBag[CATALOG_KEY]) || (await input.isLeader()) ? syncPlan(local, record.synced, wanted, record.explicit) : { copy: [], remove: [] };
  if (plan.copy.length || plan.remove.length) {
    const { createRegistryClient } = await import('../images/remote/index.js');
    const writer = createRegistryClient({ baseUrl: input.writerUrl });
    try {
      for (const { ref, digest } of plan.remove) {
        const colon = ref.lastIndexOf(':');
        const repo = ref.slice(0, colon);
        if ((await writer.hasManifest(repo, ref.slice(colon + 1)).catch(() => null)) === digest) {
          await writer.deleteManifest(repo, digest).catch((err: { status?: number }) => {
            if (err.status !== 404) throw err;
          });
        }
        // The registry deletes by digest: every tag of that repository on it goes too.
        for (const [other, entry] of Object.entries(local)) {
          if (other.slice(0, other.lastIndexOf(':')) !== repo || entry.digest !== digest) continue;
          delete local[other];
          // A still-wanted sibling was not removed by an operator here: copy it back, do not propose its removal.
          if (other !== ref) delete record.synced[other];
        }
        outcome.removed++;
        await input.log(`sync: removed ${ref} (${digest}): the leader's catalog no longer has it`);
      }
      writeCatalog(paths, local);
      // Removing by digest may have taken a still-wanted sibling tag: plan again.
      const copies = syncPlan(local, record.synced, wanted, record.explicit).copy;
      if (copies.length) await copyFromPeers(input, copies, peerBags, local, writer, outcome);
      local = readCatalog(paths);
    } finally {
      writer.close();
    }
    await refreshUsage(paths);
  }
  record.synced = syncedAfter(local, record.synced, wanted);
  // Removals here that the leader has not merged yet count as held: nothing to copy for them.
  outcome.held = Object.keys(record.synced).length;
  record.pending = outcome.held < outcome.wanted;
  // An explicit load the leader merged is an ordinary image from now on.
  for (const [ref, digest] of Object.entries(record.explicit)) if (wanted.images[ref]?.digest === digest) delete record.explicit[ref];
  await publishUnitBag(input, relationId, record, { [PROPOSALS_KEY]: JSON.stringify(proposalsOf(local, record.synced, wanted, record.explicit)) });
  writeJsonFile(recordFile(paths), record, 0o644);
  return outcome;
}

/**
 * Shared store: the leader publishes its record as the wanted catalog; every other unit adopts the
 * wanted catalog as its record. A unit that never held the catalog and is leader now (its first hook
 * as a new leader) first takes over what the app bag has, keeping what it loaded itself.
 */
async function shareStoreCatalog(input: SyncInput, relationId: string): Promise<void> {
  const { runner, paths } = input;
  const record = readRecord(paths);
  const appBag = await relationGet(runner, relationId, input.appName, { app: true });
  const wanted = parseWanted(appBag[CATALOG_KEY]);
  const local = readCatalog(paths);
  if (await input.isLeader()) {
    let own = local;
    if (!record.sharedHeld && wanted) own = { ...recordFromWanted(wanted, SHARED_SOURCE), ...local };
    // The images resource loaded again (a new leader, a new revision) brings back what an operator
    // removed: removed again here, as units that copy do. load-images of it by hand keeps it.
    const undeleted = new Set<string>();
    if (wanted) own = await dropTombstoned(input, own, wanted, record.explicit, undeleted);
    if (stable(own) !== stable(local)) writeCatalog(paths, own);
    // What could not be deleted again stays in this record (the store still has it, the next hook
    // retries) but not in the wanted catalog: its tombstone stands.
    const next = wantedFromRecord(Object.fromEntries(Object.entries(own).filter(([ref]) => !undeleted.has(ref))), wanted ?? EMPTY_WANTED);
    if (!wanted || stable(next) !== stable(wanted)) await relationSet(runner, relationId, { [CATALOG_KEY]: JSON.stringify(next) }, { app: true });
    for (const [ref, digest] of Object.entries(record.explicit)) if (next.images[ref]?.digest === digest) delete record.explicit[ref];
    record.sharedHeld = true;
  } else if (wanted) {
    const adopted = recordFromWanted(wanted, SHARED_SOURCE);
    // Entries this unit already records at the same digest keep their source (e.g. loaded here while leader).
    for (const [ref, entry] of Object.entries(local)) if (adopted[ref]?.digest === entry.digest) adopted[ref] = entry;
    if (stable(adopted) !== stable(local)) {
      writeCatalog(paths, adopted);
      const gone = Object.keys(local).filter((ref) => adopted[ref]?.digest !== local[ref].digest).length;
      const added = Object.keys(adopted).filter((ref) => local[ref]?.digest !== adopted[ref].digest).length;
      await input.log(`shared store: adopted the leader's catalog (${Object.keys(adopted).length} images: ${added} new, ${gone} dropped)`);
    }
    record.sharedHeld = true;
  }
  await publishUnitBag(input, relationId, record, {});
  writeJsonFile(recordFile(paths), record, 0o644);
}

/**
 * Shared store, leader: deletes from the store the images of `own` that the wanted catalog
 * tombstoned (and that were not loaded by action since). The registry deletes by digest, taking
 * every tag of that digest in the repository: a tombstoned tag whose digest another still-wanted
 * tag shares is kept (and logged) rather than take that one too.
 */
async function dropTombstoned(input: SyncInput, own: Catalog, wanted: WantedCatalog, explicit: Record<string, string>, undeleted: Set<string>): Promise<Catalog> {
  const repoOf = (ref: string) => ref.slice(0, ref.lastIndexOf(':'));
  const isTombstoned = (ref: string, digest: string) => wanted.removed[ref] === digest && explicit[ref] !== digest;
  const doomed = Object.entries(own).filter(([ref, e]) => isTombstoned(ref, e.digest));
  if (!doomed.length) return own;
  const next = { ...own };
  const { createRegistryClient } = await import('../images/remote/index.js');
  const writer = createRegistryClient({ baseUrl: input.writerUrl });
  try {
    for (const [ref, entry] of doomed) {
      const siblings = Object.entries(own).filter(([other, e]) => other !== ref && repoOf(other) === repoOf(ref) && e.digest === entry.digest);
      const kept = siblings.find(([other, e]) => !isTombstoned(other, e.digest));
      if (kept) {
        await input.log(`shared store: ${ref} was removed by an operator, but ${kept[0]} (still wanted) has its digest ${entry.digest}: kept`);
        continue;
      }
      try {
        await writer.deleteManifest(repoOf(ref), entry.digest).catch((err: { status?: number }) => {
          if (err.status !== 404) throw err;
        });
      } catch (err) {
        // The store may be down: the next hook tries again.
        await input.log(`shared store: ${ref} was removed by an operator but could not be deleted again (${(err as Error).message}): retried in the next hook`);
        undeleted.add(ref);
        for (const [other] of siblings) undeleted.add(other);
        continue;
      }
      delete next[ref];
      for (const [other] of siblings) delete next[other];
      await input.log(`shared store: removed ${ref} (${entry.digest}) again: an operator removed it, the images resource brought it back`);
    }
  } finally {
    writer.close();
  }
  return next;
}

/** This unit's peer data: where peers and clients reach its public registry, and what else `extra` adds. Set only when it changed. */
async function publishUnitBag(input: SyncInput, relationId: string, record: SyncRecord, extra: Record<string, string>): Promise<void> {
  const url = `${input.settings.tls ? 'https' : 'http'}://${input.peerNetloc}`;
  const bag: Record<string, string> = {
    [NETLOC_KEY]: input.peerNetloc,
    [URL_KEY]: url,
    ...(input.settings.tls && input.certFile ? { [URL_CERT_KEY]: certCoversHost(input.certFile, new URL(url).hostname) } : {}),
    ...extra,
  };
  const changed = Object.fromEntries(Object.entries(bag).filter(([k, v]) => record.published?.[k] !== v));
  if (Object.keys(changed).length) {
    await relationSet(input.runner, relationId, changed);
    record.published = bag;
  }
}

/** "ok" when the certificate in `certFile` is valid for `host` (a DNS name or an IP, by its SANs), else what it names instead. */
export function certCoversHost(certFile: string, host: string): string {
  const bare = host.replace(/^\[|\]$/g, '');
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(fs.readFileSync(certFile));
  } catch (err) {
    return `its certificate ${certFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  const ok = net.isIP(bare) ? cert.checkIP(bare) !== undefined : cert.checkHost(bare) !== undefined;
  return ok ? 'ok' : `its certificate is not valid for ${bare} (it names ${cert.subjectAltName ?? cert.subject})`;
}

function parseJsonObject(raw: string | undefined): Record<string, string> {
  try {
    const v = JSON.parse(raw ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, string>) : {};
  } catch {
    return {};
  }
}

async function copyFromPeers(
  input: SyncInput,
  copies: Array<{ ref: string; entry: { host: string; digest: string } }>,
  peerBags: Record<string, Record<string, string>>,
  local: Catalog,
  writer: ReturnType<typeof import('../images/remote/index.js').createRegistryClient>,
  outcome: SyncOutcome,
): Promise<void> {
  const { createRegistryClient } = await import('../images/remote/index.js');
  const { copyImage, NotOnPeer } = await import('./copy.js');
  const sources = Object.keys(peerBags)
    .filter((u) => peerBags[u][URL_KEY])
    .sort(byUnitNumber)
    .map((unit) => ({
      unit,
      client: createRegistryClient(
        { baseUrl: peerBags[unit][URL_KEY], ca: input.access.caPem, username: input.access.auth?.user, password: input.access.auth?.password },
        { maxRetries: 1, retryBaseMs: 100 },
      ),
      down: false,
    }));
  const total = outcome.wanted;
  let held = total - copies.length;
  let lastStatusAt = 0;
  const holders = new Map<string, string>();
  const started = Date.now();
  const stats = { blobsCopied: 0, blobsPresent: 0, bytesCopied: 0 };
  const counts: Record<string, number> = {};
  try {
    for (const { ref, entry } of copies) {
      let done = false;
      for (const source of sources) {
        if (source.down) continue;
        if (Date.now() - lastStatusAt > 2000) {
          lastStatusAt = Date.now();
          await input.setStatus({ name: 'waiting', message: `syncing ${held}/${total} images from ${source.unit}` });
        }
        try {
          await copyImage(source.client, writer, ref, entry.digest, holders, stats);
        } catch (err) {
          if (err instanceof NotOnPeer) continue;
          const code = (err as { code?: string }).code;
          // A peer that does not answer is skipped for the rest of this hook.
          if (code && /^E[A-Z]+$/.test(code)) source.down = true;
          await input.log(`sync: ${ref} from ${source.unit}: ${(err as Error).message}`);
          continue;
        }
        local[ref] = recordedEntry(entry, `peer ${source.unit}`);
        writeCatalog(input.paths, local);
        counts[source.unit] = (counts[source.unit] ?? 0) + 1;
        outcome.copied++;
        held++;
        done = true;
        break;
      }
      if (!done) outcome.unavailable.push(ref);
    }
  } finally {
    for (const s of sources) s.client.close();
  }
  outcome.from = Object.entries(counts).sort((a, b) => b[1] - a[1])[0]?.[0] ?? sources.find((s) => !s.down)?.unit;
  if (outcome.copied) {
    const seconds = (Date.now() - started) / 1000;
    await input.log(`sync: copied ${outcome.copied} images (${stats.blobsCopied} blobs, ${stats.bytesCopied} bytes) from ${Object.keys(counts).sort(byUnitNumber).join(', ')} in ${seconds.toFixed(2)} s`);
  }
}

/** The status of a unit that does not yet hold every wanted image, or null. */
export function syncStatus(outcome: SyncOutcome | null): Status | null {
  if (!outcome || outcome.held >= outcome.wanted) return null;
  const from = outcome.from ? ` from ${outcome.from}` : '';
  const missing = outcome.unavailable.length ? ` (${outcome.unavailable.length} not available on any peer yet: ${outcome.unavailable.slice(0, 3).join(', ')}${outcome.unavailable.length > 3 ? ', ...' : ''})` : '';
  return { name: 'waiting', message: `syncing ${outcome.held}/${outcome.wanted} images${from}${missing}` };
}

export interface PeerRegistry {
  unit: string;
  /** Its public registry's URL as it published it (its own address); undefined until it has. */
  url?: string;
  /** URL_CERT_KEY as it published it ("ok", a problem, or undefined: plain HTTP or not told yet). */
  cert?: string;
}

/** Every unit's registry (this one's too), as its peer data tells, in unit order; [] without the peer relation. */
export async function peerRegistries(runner: CommandRunner, ownUnit: string): Promise<PeerRegistry[]> {
  const relationId = (await relationIds(runner, PEER_ENDPOINT))[0];
  if (!relationId) return [];
  const units = [ownUnit, ...(await relationList(runner, relationId)).filter((u) => u !== ownUnit)].sort(byUnitNumber);
  return Promise.all(
    units.map(async (unit) => {
      const bag = await relationGet(runner, relationId, unit);
      return { unit, url: bag[URL_KEY] || undefined, cert: bag[URL_CERT_KEY] || undefined };
    }),
  );
}
