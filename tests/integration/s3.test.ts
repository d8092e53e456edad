// storage-backend=s3 through the packed charm's dispatch: credentials from a Juju user secret
// (granted to the application, consumed like any secret the charm does not own), bad values
// blocked by name, the real registry started on the rendered s3 config, and only the leader loading.
// The endpoint here is a closed loopback port: what is asserted is what the charm decided and
// rendered. Loading into a real S3 service is tests/integration/s3-radosgw.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { RunOutput, Simulator, State } from '../harness/index.js';
import { writeBusyboxSave } from '../support/archives.js';
import { freePort, freePortRun } from '../support/ports.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3-it-'));
afterAll(async () => {
  await cleanupUnits();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const CREDS_ID = 'd0m2tt6v8kasajfo3bc0';
const ACCESS_KEY = 'AKIAOFFLINETEST';
const SECRET_KEY = 'x9Fq2-very-secret-s3-key';

async function s3State(extra: State & { content?: Record<string, string> | null } = {}): Promise<State> {
  const { content, ...rest } = extra;
  const closedPort = await freePort(); // nothing listens: no S3 server here (see the header)
  const secrets = content === null ? [] : [{ id: CREDS_ID, owner: 'remote' as const, revisions: [content ?? { 'access-key': ACCESS_KEY, 'secret-key': SECRET_KEY }] }];
  const state = await loopbackState({
    secrets,
    ...rest,
    config: { 'storage-backend': 's3', 's3-bucket': 'offline-images', 's3-region': 'us-east-1', 's3-endpoint': `http://127.0.0.1:${closedPort}`, 's3-credentials': `secret:${CREDS_ID}`, ...(rest.config ?? {}) },
  });
  // With s3 the registries' debug servers (for /debug/health) take metrics-port and +1: free ones per unit.
  const { port, writerPort } = portsOf(state);
  return { ...state, config: { ...state.config, 'metrics-port': await freePortRun([port, writerPort, closedPort]) } };
}

function expectNoCredentialsLeak(out: RunOutput): void {
  const said = JSON.stringify([out.logs, out.statusHistory, out.unitStatus, out.action ?? null]);
  expect(said).not.toContain(SECRET_KEY);
  expect(said).not.toContain(ACCESS_KEY);
}

function registryConfig(sim: Simulator, role: 'public' | 'writer'): any {
  const file = path.join(sim.rootDir, 'etc/offline-registry', `${role}.yml`);
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  return YAML.parse(fs.readFileSync(file, 'utf8'));
}

test('a missing or unreadable s3-credentials secret blocks naming the option, and clears once granted', async () => {
  const sim = await unit();
  const blocked = await runAll(sim, DEPLOY, await s3State({ content: null }));
  expect(blocked.unitStatus).toEqual({ status: 'blocked', message: expect.stringMatching(/^s3-credentials: secret secret:d0m2tt6v8kasajfo3bc0 cannot be read: grant it/) });

  const partial = await sim.run('config-changed', { ...blocked, secrets: [{ id: CREDS_ID, owner: 'remote', revisions: [{ 'access-key': ACCESS_KEY }] }] });
  expect(partial.unitStatus).toEqual({ status: 'blocked', message: 's3-credentials: secret secret:d0m2tt6v8kasajfo3bc0 has no secret-key: juju update-secret <secret> access-key=... secret-key=...' });

  // The operator adds the key as a new revision (the unit still tracks the first one): Juju runs
  // secret-changed, and the charm refreshes to the new revision.
  const revisions: Array<Record<string, string>> = [{ 'access-key': ACCESS_KEY }, { 'access-key': ACCESS_KEY, 'secret-key': SECRET_KEY }];
  const revised: State = { ...partial, secrets: [{ id: CREDS_ID, owner: 'remote', trackedRevision: 1, revisions }] };
  const stale = await sim.run('update-status', revised);
  expect(stale.unitStatus.message).toMatch(/has no secret-key/);
  const fixed = await sim.run('secret-changed', stale, { secret: { id: CREDS_ID, revision: 2 } });
  expect(fixed.unitStatus.status).toBe('active');
  expect(registryConfig(sim, 'writer').storage.s3).toMatchObject({ accesskey: ACCESS_KEY, secretkey: SECRET_KEY });
  for (const out of [blocked, partial, fixed]) expectNoCredentialsLeak(out);
});

test('bad s3 options block naming the option', async () => {
  const sim = await unit();
  const out = await runAll(sim, DEPLOY, await s3State({ config: { 's3-bucket': '' } }));
  expect(out.unitStatus).toEqual({ status: 'blocked', message: 'storage-backend is s3 but s3-bucket is empty: give the bucket name' });
  const endpoint = await sim.run('config-changed', { ...out, config: { ...out.config, 's3-bucket': 'offline-images', 's3-endpoint': 'rgw:7480' } });
  expect(endpoint.unitStatus).toEqual({ status: 'blocked', message: expect.stringMatching(/^invalid s3-endpoint "rgw:7480"/) });
});

test('with s3 both instances run on the shared bucket with redirects off; only the leader loads the resource', async () => {
  const images = path.join(tmp, 'busybox.tar');
  writeBusyboxSave(images, ['cdk/test/busybox:1.35']);

  // A non-leader: serves from the bucket, does not load, and says why.
  const follower = await unit();
  const followerOut = await runAll(follower, DEPLOY, await s3State({ unitName: 'offline-registry/1', leader: false, resources: { images } }));
  expect(followerOut.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(/^Serving 0 images .* \(shared S3 store: the leader loads images; plain HTTP/) });
  expect(followerOut.logs).toContainEqual({ level: 'INFO', message: 'not loading the images resource: shared S3 store: the leader loads images' });
  expect(followerOut.statusHistory.some((s) => /Loading images/.test(s.message))).toBe(false);
  for (const role of ['public', 'writer'] as const) {
    const config = registryConfig(follower, role);
    expect(config.storage.filesystem).toBeUndefined();
    expect(config.storage.redirect).toEqual({ disable: true });
    expect(config.storage.s3).toMatchObject({ bucket: 'offline-images', region: 'us-east-1', forcepathstyle: true, secure: false });
  }
  const refused = await follower.run({ action: 'load-images', params: {} }, followerOut);
  expect(refused.action?.status).toBe('failed');
  expect(refused.action?.message).toBe('load-images runs on the leader only: storage-backend is s3 and all units share one store (juju run offline-registry/leader load-images ...)');
  expectNoCredentialsLeak(followerOut);
  expectNoCredentialsLeak(refused);

  // The leader does load, into the bucket: here the closed endpoint makes the push fail, and the
  // status says so (nothing was written anywhere else).
  const leader = await unit();
  const leaderOut = await runAll(leader, DEPLOY, await s3State({ resources: { images } }));
  expect(leaderOut.statusHistory.some((s) => s.message === 'Loading images from the images resource (busybox.tar)')).toBe(true);
  expect(leaderOut.unitStatus).toEqual({ status: 'blocked', message: expect.stringMatching(/^images resource busybox\.tar: 1 failed/) });
  expect(fs.readdirSync(path.join(leader.rootDir, 'var/lib/offline-registry/data'))).toEqual([]);
  expectNoCredentialsLeak(leaderOut);
});
