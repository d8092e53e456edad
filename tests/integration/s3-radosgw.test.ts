// storage-backend=s3 against a real S3 service (Ceph radosgw, single node, see tests/support/radosgw):
// the leader loads a layer larger than the driver's 5 MiB multipart chunks into the bucket, and a
// second unit (another root, its own registries) serves it from the same bucket without loading.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { State } from '../harness/index.js';
import { writeDockerSave } from '../support/archives.js';
import { freePortRun } from '../support/ports.js';
import { type Radosgw, haveRadosgw, startRadosgw } from '../support/radosgw.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, unit } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 's3-rgw-it-'));
let gw: Radosgw | undefined;
const CREDS_ID = 'c1n2tt6v8kasajfo3bd0';

if (!haveRadosgw()) console.warn('skipping the radosgw tests: install radosgw, ceph-mon and ceph-osd (.ci/run does)');
const withRadosgw = haveRadosgw() ? test : test.skip;

beforeAll(async () => {
  if (!haveRadosgw()) return;
  gw = await startRadosgw();
  gw.createBucket('offline-images');
}, 240000);

afterAll(async () => {
  await cleanupUnits();
  await gw?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function s3State(extra: State): Promise<State> {
  const state = await loopbackState({
    ...extra,
    secrets: [{ id: CREDS_ID, owner: 'remote', revisions: [{ 'access-key': gw!.accessKey, 'secret-key': gw!.secretKey }] }],
    config: { 'storage-backend': 's3', 's3-bucket': 'offline-images', 's3-region': 'us-east-1', 's3-endpoint': gw!.endpoint, 's3-root-directory': '/registry', 's3-credentials': `secret:${CREDS_ID}` },
  });
  // With s3 the registries' debug servers (for /debug/health) take metrics-port and +1: free ones per unit.
  const { port, writerPort } = portsOf(state);
  return { ...state, config: { ...state.config, 'metrics-port': await freePortRun([port, writerPort]) } };
}

withRadosgw('the leader loads a multipart-sized layer into the bucket; another unit serves it without loading', async () => {
  const images = path.join(tmp, 'big.tar');
  await writeDockerSave(images, [{ tags: ['registry.k8s.io/big:1.0'], layers: [{ seed: 'base', size: 12 * 1024 * 1024 }, { seed: 'top', size: 64 * 1024 }] }]);

  const leader = await unit();
  const leaderOut = await runAll(leader, DEPLOY, await s3State({ resources: { images } }));
  expect(leaderOut.unitStatus).toEqual({ status: 'active', message: expect.stringMatching(/^Serving 1 images/) });
  // Nothing went to the unit's disk: the blobs are in the bucket.
  expect(fs.readdirSync(path.join(leader.rootDir, 'var/lib/offline-registry/data'))).toEqual([]);

  const follower = await unit();
  const followerOut = await runAll(follower, DEPLOY, await s3State({ unitName: 'offline-registry/1', leader: false, resources: { images } }));
  expect(followerOut.logs).toContainEqual({ level: 'INFO', message: 'not loading the images resource: shared S3 store: the leader loads images' });
  expect(followerOut.statusHistory.some((s) => /Loading images/.test(s.message))).toBe(false);

  // The follower's public registry serves the leader's image from the bucket, every blob verified by skopeo.
  const { port } = portsOf(followerOut);
  const dest = path.join(tmp, 'pulled');
  execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://127.0.0.1:${port}/big:1.0`, `dir:${dest}`], { timeout: 120000, stdio: 'pipe' });
  const manifest = JSON.parse(fs.readFileSync(path.join(dest, 'manifest.json'), 'utf8'));
  expect(Math.max(...manifest.layers.map((l: { size: number }) => l.size))).toBeGreaterThan(10 * 1024 * 1024);
}, 300000);
