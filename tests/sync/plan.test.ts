// The multi-unit catalog logic, pure: proposals, the leader's merge, what a unit copies or removes.
import { byUnitNumber, EMPTY_WANTED, mergeProposals, proposalsOf, recordFromWanted, syncedAfter, syncPlan, wantedFromRecord, type WantedCatalog } from '../../src/sync/plan.js';

const e = (digest: string, host = 'docker.io') => ({ host, digest });
const local = (entries: Record<string, string>) => Object.fromEntries(Object.entries(entries).map(([r, d]) => [r, { ...e(d), source: 'x' }]));

test('a first leader proposes everything it holds, and the merge makes it the wanted catalog', () => {
  const held = local({ 'a:1': 'sha256:a', 'b:1': 'sha256:b' });
  const p = proposalsOf(held, {}, EMPTY_WANTED);
  expect(p).toEqual({ added: { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') }, removed: {} });
  const wanted = mergeProposals(EMPTY_WANTED, { 'offline-registry/0': p });
  expect(wanted).toEqual({ images: { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') }, removed: {} });
  expect(syncPlan(held, {}, wanted)).toEqual({ copy: [], remove: [] });
});

test('a new unit copies what it lacks, proposes nothing, and removes nothing it never synced', () => {
  const wanted: WantedCatalog = { images: { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') }, removed: {} };
  const held = local({ 'a:1': 'sha256:a' });
  expect(syncPlan(held, {}, wanted)).toEqual({ copy: [{ ref: 'b:1', entry: e('sha256:b') }], remove: [] });
  expect(proposalsOf(held, {}, wanted)).toEqual({ added: {}, removed: {} });
});

test('a removal here is proposed, not copied back, and remembered until the leader drops it', () => {
  const wanted: WantedCatalog = { images: { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') }, removed: {} };
  const synced = { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') };
  const held = local({ 'a:1': 'sha256:a' });
  expect(proposalsOf(held, synced, wanted)).toEqual({ added: {}, removed: { 'b:1': 'sha256:b' } });
  expect(syncPlan(held, synced, wanted).copy).toEqual([]);
  expect(syncedAfter(held, synced, wanted)).toEqual(synced);
  const next = mergeProposals(wanted, { 'offline-registry/1': proposalsOf(held, synced, wanted) });
  expect(next).toEqual({ images: { 'a:1': e('sha256:a') }, removed: { 'b:1': 'sha256:b' } });
  expect(syncedAfter(held, synced, next)).toEqual({ 'a:1': e('sha256:a') });
});

test('what the leader removed goes on the other units; a tombstoned resource image is not proposed again', () => {
  const wanted: WantedCatalog = { images: { 'a:1': e('sha256:a') }, removed: { 'b:1': 'sha256:b' } };
  const synced = { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') };
  const held = local({ 'a:1': 'sha256:a', 'b:1': 'sha256:b' });
  expect(syncPlan(held, synced, wanted).remove).toEqual([{ ref: 'b:1', digest: 'sha256:b' }]);
  // A new unit that loaded b:1 from the resource: never synced, but tombstoned.
  expect(proposalsOf(held, {}, wanted).added).toEqual({});
  expect(syncPlan(held, {}, wanted).remove).toEqual([{ ref: 'b:1', digest: 'sha256:b' }]);
  // Loaded by action: proposed over the tombstone, and the merge lifts it.
  const explicit = { 'b:1': 'sha256:b' };
  expect(syncPlan(held, {}, wanted, explicit).remove).toEqual([]);
  const p = proposalsOf(held, {}, wanted, explicit);
  expect(p.added).toEqual({ 'b:1': e('sha256:b') });
  expect(mergeProposals(wanted, { 'offline-registry/2': p })).toEqual({ images: { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') }, removed: {} });
});

test('a new digest under a tag replaces the old one everywhere', () => {
  const wanted: WantedCatalog = { images: { 'a:1': e('sha256:old') }, removed: {} };
  const synced = { 'a:1': e('sha256:old') };
  const held = local({ 'a:1': 'sha256:new' });
  const p = proposalsOf(held, synced, wanted);
  expect(p).toEqual({ added: { 'a:1': e('sha256:new') }, removed: {} });
  const next = mergeProposals(wanted, { 'offline-registry/1': p });
  expect(syncPlan(local({ 'a:1': 'sha256:old' }), synced, next).copy).toEqual([{ ref: 'a:1', entry: e('sha256:new') }]);
});

test('units merge in number order', () => {
  expect(['offline-registry/10', 'offline-registry/2', 'offline-registry/0'].sort(byUnitNumber)).toEqual(['offline-registry/0', 'offline-registry/2', 'offline-registry/10']);
});

test('shared store: the leader\'s record is the wanted catalog, what it dropped is tombstoned; a non-leader\'s record is the wanted catalog', () => {
  const previous: WantedCatalog = { images: { 'a:1': e('sha256:a'), 'b:1': e('sha256:b') }, removed: { 'c:1': 'sha256:c', 'a:1': 'sha256:old' } };
  const record = local({ 'a:1': 'sha256:a', 'd:1': 'sha256:d' });
  const wanted = wantedFromRecord(record, previous);
  expect(wanted).toEqual({ images: { 'a:1': e('sha256:a'), 'd:1': e('sha256:d') }, removed: { 'b:1': 'sha256:b', 'c:1': 'sha256:c' } });
  // No source in the wanted catalog (it is not unit-specific); the record gets the given one.
  expect(Object.values(wanted.images).every((entry) => !('source' in entry))).toBe(true);
  expect(recordFromWanted(wanted, 'shared')).toEqual({ 'a:1': { ...e('sha256:a'), source: 'shared' }, 'd:1': { ...e('sha256:d'), source: 'shared' } });
  expect(wantedFromRecord(recordFromWanted(wanted, 'shared'), wanted)).toEqual(wanted);
  expect(wantedFromRecord({}, EMPTY_WANTED)).toEqual(EMPTY_WANTED);
});
