// A new unit converging with its peer, through the packed charm's dispatch under the simulator with
// the real registries (TLS on, as deployed): unit 0 loads ~1 GB of 20 images sharing a base layer;
// unit 1 is deployed without the images resource (so it copies everything), joins the peer
// relation, and the peer relation-changed hooks run until nothing is left. Measured side by side:
// the time of those hooks on unit 1 (the sync itself) against the copy limit of the same blobs
// (`cat <blobs> | sha256sum` plus `cp -r` of unit 0's registry storage).
// BENCH_SYNC_MB sets the data size (default 1000); BENCH_SYNC_HOOKS=1 also prints every hook's time and unit 1's log and statuses.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Model } from '../tests/harness/model.js';
import type { State } from '../tests/harness/index.js';
import { writeDockerSave } from '../tests/support/archives.js';
import { freePort } from '../tests/support/ports.js';
import { cleanupUnits, unit } from '../tests/integration/charm-under-test.js';
import { imageSet } from './images.js';

const APP = 'offline-registry';

function timedSh(script: string, args: string[]): number {
  const start = process.hrtime.bigint();
  const r = spawnSync('sh', ['-c', script, 'sh', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

export async function benchSync(): Promise<void> {
  const mb = Number(process.env.BENCH_SYNC_MB ?? 1000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-sync-'));
  try {
    const archive = path.join(tmp, 'images.tar');
    const { images } = imageSet(mb * 1e6);
    await writeDockerSave(archive, images);
    const port0 = await freePort();
    const port1 = await freePort();
    const state = async (p: number, leader: boolean, resources: Record<string, string>): Promise<State> => ({
      leader,
      apt: { available: ['docker-registry', 'nodejs'] },
      resources,
      config: { port: p, 'writer-port': await freePort(), 'bind-address': '127.0.0.1' },
    });
    const model = new Model({ app: APP, peerEndpoint: 'registry-peers' });
    const hookTimes: string[] = [];
    const run = model.run.bind(model);
    model.run = async (u, event, opts) => {
      const out = await run(u, event, opts);
      hookTimes.push(`${u} ${typeof event === 'string' ? event : event.action}${opts?.remoteUnit ? ` (${opts.remoteUnit})` : ''}: ${(out.durationMs / 1000).toFixed(2)} s`);
      return out;
    };
    const u0 = `${APP}/0`;
    const u1 = `${APP}/1`;
    model.add(u0, await unit(), await state(port0, true, { images: archive }));
    const loadStart = Date.now();
    for (const e of ['install', 'leader-elected', 'config-changed', 'start']) await model.run(u0, e);
    const loadSeconds = (Date.now() - loadStart) / 1000;
    await model.join(u0);
    await model.settle();

    // Juju's order for a new unit: install, the peer relation's hooks, config-changed, start.
    model.add(u1, await unit(), await state(port1, false, {}));
    const syncStart = Date.now();
    await model.run(u1, 'install');
    await model.join(u1);
    for (const e of ['config-changed', 'start']) await model.run(u1, e);
    const hooks = await model.settle();
    const syncSeconds = (Date.now() - syncStart) / 1000;
    const copyLog = (model.state(u1) as { logs: Array<{ message: string }> }).logs.map((l) => /^sync: copied .* in ([\d.]+) s$/.exec(l.message)).find(Boolean);
    const copySeconds = copyLog ? Number(copyLog[1]) : NaN;
    const status = model.state(u1) as { unitStatus: { status: string; message: string } };
    const syncing = (model.state(u1) as { statusHistory: Array<{ message: string }> }).statusHistory.filter((s) => s.message.startsWith('syncing')).length;

    const data0 = path.join(model.sim(u0).rootDir, 'var/lib/offline-registry/data');
    const blobs = filesUnder(path.join(data0, 'docker/registry/v2/blobs'));
    const bytes = blobs.reduce((n, f) => n + fs.statSync(f).size, 0);
    spawnSync('sync');
    const hash = timedSh('cat "$@" | sha256sum', blobs);
    spawnSync('sync');
    const copy = timedSh('cp -r "$1" "$2"', [data0, path.join(tmp, 'copy')]);
    const limit = hash + copy;

    console.log(`\nsync: a new unit converging on ${(bytes / 1e6).toFixed(0)} MB of blobs (${images.length} images) from its peer, TLS on`);
    console.log(`  unit 0 deploy + load of the resource: ${loadSeconds.toFixed(2)} s`);
    console.log(`  unit 1 from install to settled (registry start included; ${hooks} relation-changed): ${syncSeconds.toFixed(2)} s, ${(bytes / 1e6 / syncSeconds).toFixed(0)} MB/s; ${syncing} syncing status updates`);
    console.log(`  of which the copy itself (the charm's log): ${copySeconds.toFixed(2)} s, ${(bytes / 1e6 / copySeconds).toFixed(0)} MB/s`);
    console.log(`  copy limit (cat | sha256sum ${hash.toFixed(2)} s + cp -r ${copy.toFixed(2)} s): ${limit.toFixed(2)} s -> the copy at ${((limit / copySeconds) * 100).toFixed(0)}% of the limit, the whole convergence at ${((limit / syncSeconds) * 100).toFixed(0)}%`);
    if (process.env.BENCH_SYNC_HOOKS) {
      for (const line of hookTimes) console.log(`    ${line}`);
      const u1State = model.state(u1) as { logs: Array<{ message: string }>; statusHistory: Array<{ status: string; message: string }> };
      for (const l of u1State.logs) console.log(`    log: ${l.message.slice(0, 200)}`);
      for (const st of u1State.statusHistory) console.log(`    status: ${st.status}: ${st.message.slice(0, 160)}`);
    }
    console.log(`  unit 1 status: ${status.unitStatus.status}: ${status.unitStatus.message}`);
  } finally {
    await cleanupUnits();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
