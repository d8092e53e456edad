// The connected side end to end: the kit command copies a release list from local registries standing
// in for upstream (one behind basic auth, one serving a two-platform index) with skopeo, resumes,
// writes the kit; the packed charm then loads the kit's images.tar through dispatch and check-images
// against the kit's image-list.txt reports nothing missing.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { CHARM_FILE, DEPLOY, cleanupUnits, loopbackState, runAll, unit } from '../integration/charm-under-test.js';
import { tarLayer, writeOciLayout } from '../support/oci.js';
import { type ConfiguredRegistry, startConfiguredRegistry, startTestRegistry, type TestRegistry } from '../support/registry.js';
import { BUSYBOX_REPO, BUSYBOX_TAG, pushBusybox } from '../support/busybox-image.js';

const repo = path.resolve(new URL('../..', import.meta.url).pathname);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kit-test-'));
let open: TestRegistry;
let locked: ConfiguredRegistry;
let indexDigest: string;
const user = 'mirror';
const password = crypto.randomBytes(9).toString('hex');

beforeAll(async () => {
  open = await startTestRegistry();
  await pushBusybox(open.url);
  locked = await startConfiguredRegistry({
    files: { htpasswd: `${user}:${bcrypt.hashSync(password, 4)}\n` },
    config: (dir) => ({ auth: { htpasswd: { realm: 'upstream', path: path.join(dir, 'htpasswd') } } }),
  });
  // A two-platform index pushed to the authenticated upstream as a release would publish it.
  const base = tarLayer({ 'bin/busybox': fs.readFileSync('/bin/busybox') }, tmp);
  ({ indexDigest } = writeOciLayout(path.join(tmp, 'layout'), 'cdk/multi:1.0', [
    { architecture: 'amd64', layers: [base, tarLayer({ 'etc/arch': 'amd64' }, tmp)] },
    { architecture: 'arm64', layers: [base, tarLayer({ 'etc/arch': 'arm64' }, tmp)] },
  ]));
  const pushed = spawnSync('skopeo', ['copy', '--quiet', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${user}:${password}`, `oci:${path.join(tmp, 'layout')}:1.0`, `docker://127.0.0.1:${locked.port}/cdk/multi:1.0`], { encoding: 'utf8' });
  expect(pushed.stderr).toBe('');
}, 60000);

afterAll(async () => {
  await cleanupUnits();
  await open?.stop();
  await locked?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function kit(out: string, list: string, ...extra: string[]) {
  const authfile = path.join(tmp, 'auth.json');
  fs.writeFileSync(authfile, JSON.stringify({ auths: { [`127.0.0.1:${locked.port}`]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } }), { mode: 0o600 });
  return spawnSync('node', ['scripts/kit.mjs', '--list', list, '--arch', 'amd64,arm64', '-o', out, '--authfile', authfile, '--plain-http', open.host, '--plain-http', `127.0.0.1:${locked.port}`, '--charm', CHARM_FILE, ...extra], { cwd: repo, encoding: 'utf8' });
}

test('kit → images.tar → the packed charm loads it through dispatch → check-images finds nothing missing', async () => {
  const list = path.join(tmp, 'v1.32.0.txt');
  const multi = `127.0.0.1:${locked.port}/cdk/multi:1.0`;
  const busybox = `${open.host}/${BUSYBOX_REPO}:${BUSYBOX_TAG}`;
  fs.writeFileSync(list, `# release list\n${multi}\n${busybox}\n`);
  const out = path.join(tmp, 'kit');
  const first = kit(out, list);
  expect(first.status).toBe(0);
  expect(first.stderr).toContain('with skopeo version');
  expect(first.stderr).toContain(`[1/2] ${multi}: copying index of amd64, arm64`);
  expect(first.stderr).toContain(`[1/2] ${multi}: done (${indexDigest.slice(0, 19)})`);
  expect(first.stderr).toMatch(/blobs verified/);
  expect(fs.readdirSync(out).filter((f) => !f.startsWith('.')).sort()).toEqual(['README.md', 'SHA256SUMS', 'image-list.txt', 'images.tar', 'offline-registry.charm']);
  expect(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' }).status).toBe(0);
  const readme = fs.readFileSync(path.join(out, 'README.md'), 'utf8');
  expect(readme).toMatch(/juju deploy \.\/offline-registry\.charm offline-registry --base ubuntu@24\.04 --storage registry-data=\d+G --resource images=\.\/images\.tar --resource image-list=\.\/image-list\.txt/);
  expect(fs.readFileSync(path.join(out, 'image-list.txt'), 'utf8')).toBe(`${multi}\n${busybox}\n`);

  // Rerun: both images are skipped, nothing copied again.
  const again = kit(out, list);
  expect(again.status).toBe(0);
  expect(again.stderr).toContain(`[1/2] ${multi}: already copied`);
  expect(again.stderr).toContain(`[2/2] ${busybox}: already copied`);

  // Without the credentials the authenticated upstream refuses, and the kit says which image failed.
  const noAuth = spawnSync('node', ['scripts/kit.mjs', '--list', list, '-o', path.join(tmp, 'kit2'), '--plain-http', `127.0.0.1:${locked.port}`, '--plain-http', open.host, '--charm', CHARM_FILE], { cwd: repo, encoding: 'utf8', env: { ...process.env, REGISTRY_AUTH_FILE: path.join(tmp, 'none.json') } });
  expect(noAuth.status).toBe(1);
  expect(noAuth.stderr).toContain(`1 of 2 images were not copied`);
  expect(noAuth.stderr).toContain(`${multi}:`);

  // The far side: the packed charm, images and image-list resources from the kit.
  const sim = await unit();
  const state = await loopbackState({ resources: { images: path.join(out, 'images.tar'), 'image-list': path.join(out, 'image-list.txt') } });
  const deployed = await runAll(sim, DEPLOY, state);
  expect(deployed.unitStatus).toMatchObject({ status: 'active', message: expect.stringMatching(/^Serving 2 images/) });
  const check = await sim.run({ action: 'check-images' }, deployed);
  expect(check.action?.status).toBe('completed');
  expect(check.action!.results).toMatchObject({ total: '2', 'present-count': '2', 'missing-count': '0' });
  const listed = await sim.run({ action: 'list-images' }, deployed);
  const rows = Object.values(listed.action!.results.images as Record<string, any>);
  expect(rows.find((r) => r.reference === multi)).toMatchObject({ digest: indexDigest, platforms: 'linux/amd64 linux/arm64' });
}, 240000);
