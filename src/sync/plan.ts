// What several units agree on, as pure data: the leader's wanted catalog (in the peer relation's
// app bag), each unit's proposals (in its unit bag), and what a unit must copy or remove to match.
//
// A unit tells its own changes apart from what it merely has not synced yet by `synced`: the part
// of the wanted catalog it last held. An image it holds that the wanted catalog lacks is its own
// proposal (loaded here), unless it was synced before (then the leader removed it) or the wanted
// catalog names it removed (a tombstone: the images resource a new unit loads must not bring back
// what an operator removed). An image it synced and no longer holds was removed here.
//
// Two catalog shapes meet here: the loader's record of a unit (src/images Catalog, read by the
// relation, status and actions; every entry says where it came from) and the wanted catalog's
// entries (src/day2/served Catalog: upstream host and digest only, what units agree on). They
// convert only through wantedEntry and recordedEntry below.
import type { Catalog, CatalogEntry } from '../day2/served.js';
import type { Catalog as RecordedCatalog, CatalogEntry as RecordedEntry } from '../images/index.js';

export interface WantedCatalog {
  /** registry path:tag -> upstream host and digest. */
  images: Catalog;
  /** path:tag -> digest removed by an operator; not proposed again by a unit that loads it from the resource. */
  removed: Record<string, string>;
}

export interface Proposals {
  added: Catalog;
  /** path:tag -> the digest removed. */
  removed: Record<string, string>;
}

export const EMPTY_WANTED: WantedCatalog = { images: {}, removed: {} };

/** A wanted entry from either shape: upstream host and digest, nothing unit-specific. */
export const wantedEntry = (e: CatalogEntry | RecordedEntry): CatalogEntry => ({ host: e.host, digest: e.digest });
const entryOf = wantedEntry;

/** A unit's record of an image it holds because the wanted catalog has it; `source` says how it came. */
export const recordedEntry = (e: CatalogEntry, source: string): RecordedEntry => ({ host: e.host, digest: e.digest, source });

/**
 * Shared store (s3): the leader's own record is the catalog. What the previous wanted catalog had
 * and the leader no longer holds is tombstoned (as a removal by an operator), the rest carried on.
 */
export function wantedFromRecord(record: RecordedCatalog, previous: WantedCatalog): WantedCatalog {
  const images: Catalog = Object.fromEntries(Object.entries(record).map(([ref, e]) => [ref, wantedEntry(e)]));
  const removed: Record<string, string> = {};
  for (const [ref, digest] of Object.entries(previous.removed)) if (!images[ref]) removed[ref] = digest;
  for (const [ref, e] of Object.entries(previous.images)) if (!images[ref]) removed[ref] = e.digest;
  return { images, removed };
}

/** Shared store (s3): a non-leader's record is the wanted catalog, nothing copied (the store holds it). */
export function recordFromWanted(wanted: WantedCatalog, source: string): RecordedCatalog {
  return Object.fromEntries(Object.entries(wanted.images).map(([ref, e]) => [ref, recordedEntry(e, source)]));
}

/** This unit's changes for the leader to merge. `explicit`: loaded by action here, tombstone or not. */
export function proposalsOf(local: Catalog, synced: Catalog, wanted: WantedCatalog, explicit: Record<string, string> = {}): Proposals {
  const added: Catalog = {};
  const removed: Record<string, string> = {};
  for (const [ref, entry] of Object.entries(local)) {
    if (wanted.images[ref]?.digest === entry.digest) continue;
    if (synced[ref]?.digest === entry.digest) continue; // removed by the leader: this unit removes it
    if (wanted.removed[ref] === entry.digest && explicit[ref] !== entry.digest) continue;
    added[ref] = entryOf(entry);
  }
  for (const [ref, entry] of Object.entries(synced)) {
    // Gone from here (a tag now at another digest is an addition, above).
    if (!local[ref] && wanted.images[ref]?.digest === entry.digest) removed[ref] = entry.digest;
  }
  return { added, removed };
}

/** Leader: the wanted catalog after every unit's proposals (units in name order, so the result is stable). */
export function mergeProposals(wanted: WantedCatalog, byUnit: Record<string, Proposals>): WantedCatalog {
  const next: WantedCatalog = { images: { ...wanted.images }, removed: { ...wanted.removed } };
  for (const unit of Object.keys(byUnit).sort(byUnitNumber)) {
    const p = byUnit[unit];
    for (const [ref, digest] of Object.entries(p.removed ?? {})) {
      if (next.images[ref]?.digest !== digest) continue;
      delete next.images[ref];
      next.removed[ref] = digest;
    }
    for (const [ref, entry] of Object.entries(p.added ?? {})) {
      next.images[ref] = entryOf(entry);
      delete next.removed[ref];
    }
  }
  return next;
}

export interface SyncPlan {
  /** In the wanted catalog, not held here at that digest. */
  copy: Array<{ ref: string; entry: CatalogEntry }>;
  /** Held here, removed by the leader. */
  remove: Array<{ ref: string; digest: string }>;
}

export function syncPlan(local: Catalog, synced: Catalog, wanted: WantedCatalog, explicit: Record<string, string> = {}): SyncPlan {
  const copy = Object.entries(wanted.images)
    // Held before and gone now: removed here, waiting for the leader to drop it; not copied back.
    .filter(([ref, entry]) => local[ref]?.digest !== entry.digest && synced[ref]?.digest !== entry.digest)
    .map(([ref, entry]) => ({ ref, entry }))
    .sort((a, b) => (a.ref < b.ref ? -1 : 1));
  const remove: SyncPlan['remove'] = [];
  for (const [ref, entry] of Object.entries(local)) {
    if (wanted.images[ref]) continue;
    const leaderRemoved = synced[ref]?.digest === entry.digest;
    const tombstoned = wanted.removed[ref] === entry.digest && explicit[ref] !== entry.digest;
    if (leaderRemoved || tombstoned) remove.push({ ref, digest: entry.digest });
  }
  remove.sort((a, b) => (a.ref < b.ref ? -1 : 1));
  return { copy, remove };
}

/** The part of the wanted catalog this unit holds. */
export function syncedPart(local: Catalog, wanted: WantedCatalog): Catalog {
  return Object.fromEntries(Object.entries(wanted.images).filter(([ref, e]) => local[ref]?.digest === e.digest).map(([ref, e]) => [ref, entryOf(e)]));
}

/** What to remember as synced: what is held, plus removals here the leader has not merged yet. */
export function syncedAfter(local: Catalog, synced: Catalog, wanted: WantedCatalog): Catalog {
  const out = syncedPart(local, wanted);
  for (const [ref, e] of Object.entries(synced)) {
    if (!local[ref] && wanted.images[ref]?.digest === e.digest) out[ref] = entryOf(e);
  }
  return out;
}

/** offline-registry/2 before offline-registry/10. */
export function byUnitNumber(a: string, b: string): number {
  const n = (u: string) => Number(u.split('/').pop());
  return n(a) - n(b) || (a < b ? -1 : a > b ? 1 : 0);
}

export function parseWanted(raw: string | undefined): WantedCatalog | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as Partial<WantedCatalog>;
    return { images: v.images ?? {}, removed: v.removed ?? {} };
  } catch {
    return null;
  }
}

export function parseProposals(raw: string | undefined): Proposals {
  if (!raw) return { added: {}, removed: {} };
  try {
    const v = JSON.parse(raw) as Partial<Proposals>;
    return { added: v.added ?? {}, removed: v.removed ?? {} };
  } catch {
    return { added: {}, removed: {} };
  }
}
