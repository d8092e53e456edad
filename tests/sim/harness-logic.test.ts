// Pure logic of the harness, without running any process.
import { actionParams, classifyHook, normalizeState, readCharmMeta, secretId, validateConfig } from '../harness/index.js';
import { makeFakeCharm, type FakeCharm } from './fake-charm.js';

let charm: FakeCharm;
beforeAll(() => {
  charm = makeFakeCharm();
});
afterAll(() => charm.remove());

test('normalizeState fills Juju defaults and gives each remote unit a bag', () => {
  const s = normalizeState({ relations: [{ id: 3, endpoint: 'docker-registry', remoteApp: 'containerd' }] });
  expect(s.unitName).toBe('offline-registry/0');
  expect(s.leader).toBe(false);
  expect(s.addresses.ingress).toBe('127.0.0.1');
  expect(s.relations[0].remoteUnits).toEqual(['containerd/0']);
  expect(s.relations[0].remoteUnitsData).toEqual({ 'containerd/0': {} });
  expect(s.unitStatus).toEqual({ status: 'unknown', message: '' });
  expect(normalizeState(s)).toEqual(s);
});

test('normalizeState refuses data Juju could not hold', () => {
  expect(() => normalizeState({ unitName: 'bad' })).toThrow(/not a Juju unit name/);
  expect(() => normalizeState({ unitState: { n: 1 as unknown as string } })).toThrow(/"n" must be a string/);
  expect(() => normalizeState({ relations: [{ id: 1, endpoint: 'a', remoteApp: 'x', remoteUnits: ['y/0'] }] })).toThrow(/must belong to x/);
  const rel = { id: 1, endpoint: 'a', remoteApp: 'x' };
  expect(() => normalizeState({ relations: [rel, rel] })).toThrow(/share id 1/);
});

test('secretId accepts both Juju 3 URI forms', () => {
  expect(secretId('secret:cabcdefghij0123456uv')).toBe('cabcdefghij0123456uv');
  expect(secretId('secret://d2f6c5f0-5b0e-4c1e-8a35-3f1e6d1b2a90/cabcdefghij0123456uv')).toBe('cabcdefghij0123456uv');
});

test('validateConfig coerces like juju config and rejects the rest', () => {
  const meta = readCharmMeta(charm.dir);
  expect(validateConfig(meta, { port: '6000', 'read-only': 'false', 'gc-ratio': '0.25', hostname: 'h' })).toEqual({
    port: 6000, 'read-only': false, 'gc-ratio': 0.25, hostname: 'h',
  });
  expect(() => validateConfig(meta, { port: 1.5 })).toThrow(/expects type int/);
  expect(() => validateConfig(meta, { hostname: 3 })).toThrow(/expects type string/);
});

test('actionParams merges defaults and checks the schema', () => {
  const meta = readCharmMeta(charm.dir);
  expect(actionParams(meta, 'load-images', { 'dry-run': true })).toEqual({ prefix: 'library', 'dry-run': true });
  expect(actionParams(meta, 'list-images', { anything: 1 })).toEqual({ anything: 1 });
  expect(() => actionParams(meta, 'load-images', { prefix: 1 })).toThrow(/expects type string/);
});

test('classifyHook knows Juju hook names for this charm only', () => {
  const meta = readCharmMeta(charm.dir);
  expect(classifyHook(meta, 'update-status')).toEqual({ kind: 'plain' });
  expect(classifyHook(meta, 'replicas-relation-created')).toEqual({ kind: 'relation', endpoint: 'replicas', phase: 'created' });
  expect(classifyHook(meta, 'registry-data-storage-attached')).toEqual({ kind: 'storage', storage: 'registry-data', phase: 'attached' });
  expect(() => classifyHook(meta, 'db-relation-joined')).toThrow(/not an endpoint/);
  expect(() => classifyHook(meta, 'instal')).toThrow(/not a Juju hook name/);
});
