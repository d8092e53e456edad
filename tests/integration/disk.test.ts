// The registry-data filesystem filling up: update-status warns past 90%, and a load that runs out
// of space blocks with what to do. The storage is a small tmpfs mounted where Juju would attach
// registry-data storage (root only; skipped with a message otherwise).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Simulator } from '../harness/index.js';
import { writeDockerSave } from '../support/archives.js';
import { DEPLOY, loopbackState, newUnit, runAll } from './charm-under-test.js';

const probeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-probe-'));
const canMount = process.getuid?.() === 0 && spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probeDir]).status === 0;
if (canMount) spawnSync('umount', [probeDir]);
fs.rmSync(probeDir, { recursive: true, force: true });
if (!canMount) console.warn('disk tests skipped: mounting a tmpfs needs root');
const maybe = canMount ? test : test.skip;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'disk-it-'));
let sim: Simulator | undefined;
let mounted: string | undefined;
afterAll(async () => {
  await sim?.cleanup().catch(() => undefined);
  if (mounted) spawnSync('umount', ['-l', mounted]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

maybe('a nearly full data filesystem warns; a load that runs out of space blocks with the fix', async () => {
  sim = await newUnit();
  const dataDir = path.join(sim.rootDir, 'var/lib/offline-registry/data');
  fs.mkdirSync(dataDir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dataDir]);
  mounted = dataDir;
  const deployed = await runAll(sim, DEPLOY, await loopbackState());
  expect(deployed.unitStatus.status).toBe('active');
  expect(deployed.unitStatus.message).not.toMatch(/full/);

  const filler = path.join(dataDir, 'filler');
  fs.writeFileSync(filler, Buffer.alloc(7_600_000));
  const warned = await sim.run('update-status', deployed);
  expect(warned.unitStatus.status).toBe('active');
  expect(warned.unitStatus.message).toMatch(/data filesystem 9\d% full/);
  fs.rmSync(filler);

  const big = path.join(tmp, 'big.tar');
  await writeDockerSave(big, [{ tags: ['docker.io/library/huge:1'], layers: [{ seed: 'huge', size: 12_000_000 }] }]);
  const attached = await runAll(sim, ['upgrade-charm'], { ...warned, resources: { images: big } });
  expect(attached.unitStatus.status).toBe('blocked');
  expect(attached.unitStatus.message).toMatch(/^no space left on the registry data filesystem \(.*: .* free, the images need up to .* more\): free space \(remove-images, garbage-collect\) or attach larger registry-data storage/);
  const later = await sim.run('update-status', attached);
  expect(later.unitStatus.status).toBe('blocked');

  const action = await sim.run({ action: 'load-images', params: { path: big } }, later);
  expect(action.action).toMatchObject({ status: 'failed', message: expect.stringMatching(/^no space left/) });
}, 90000);
