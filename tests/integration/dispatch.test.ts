// dispatch finds a Node.js >= 18 (the charm's own runtime, then node/nodejs on PATH, then apt on
// install) or says clearly what is missing: a unit with only Ubuntu 22.04's nodejs 12. The bundle
// runs through a V8 code cache in the charm dir, which a changed bundle never uses.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Simulator, extractCharm } from '../harness/index.js';
import { CHARM_FILE, DEPLOY, loopbackState, newUnit, runAll } from './charm-under-test.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dispatch-it-'));
const sims: Simulator[] = [];
afterAll(async () => {
  for (const sim of sims) await sim.cleanup();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A machine PATH whose only node is Ubuntu 22.04's v12 (a stand-in that answers --version). */
function node12Path(): string {
  const dir = path.join(tmp, 'jammy-bin');
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'node'), '#!/bin/sh\n[ "$1" = --version ] && { echo v12.22.9; exit 0; }\necho "SyntaxError: Unexpected token" >&2; exit 1\n', { mode: 0o755 });
    fs.symlinkSync(path.join(dir, 'node'), path.join(dir, 'nodejs'));
    for (const tool of ['dirname', 'cat']) fs.symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(dir, tool));
  }
  return dir;
}

const NO_NODE = /^Node\.js >= 18 not found: deploy a charm packed with its Node\.js runtime \(npm run pack\), or give the unit an APT mirror with nodejs >= 18/;

test('with only nodejs 12 and no APT mirror, install tries apt and then blocks saying what to do', async () => {
  const sim = await newUnit();
  sims.push(sim);
  const out = await sim.run('install', await loopbackState({ apt: { available: [] } }), { unitPath: node12Path() });
  expect(out.exitCode).toBe(0);
  expect(out.aptCalls.some((call) => call.includes('install') && call.includes('nodejs'))).toBe(true);
  expect(out.unitStatus.status).toBe('blocked');
  expect(out.unitStatus.message).toMatch(NO_NODE);

  const action = await sim.run({ action: 'list-images' }, out, { unitPath: node12Path() });
  expect(action.action).toMatchObject({ status: 'failed', message: expect.stringMatching(NO_NODE) });
});

test('a charm packed with its runtime runs on that unit all the same', async () => {
  const charmFile = path.join(tmp, 'with-node.charm');
  const packed = spawnSync('node', ['scripts/pack.mjs', '--node', process.execPath], { env: { ...process.env, CHARM_OUT: charmFile, CHARM_STAGE: `${charmFile}.stage` }, encoding: 'utf8' });
  expect(packed.status).toBe(0);
  const sim = await Simulator.create({ charmDir: await extractCharm(charmFile, path.join(tmp, 'with-node')) });
  sims.push(sim);
  // An invalid port blocks from the charm's own code: proof the bundle ran, on the bundled node.
  const out = await sim.run('config-changed', await loopbackState({ config: { port: 0 } }), { unitPath: node12Path() });
  expect(out.exitCode).toBe(0);
  expect(out.unitStatus).toEqual({ status: 'blocked', message: 'invalid port 0: expected a TCP port from 1 to 65535' });
});

test('hooks run the bundle from a code cache in the charm dir, and a changed bundle never runs from the older cache', async () => {
  // A charm dir of its own: this test edits the bundle.
  const charmDir = await extractCharm(CHARM_FILE, path.join(tmp, 'cached'));
  const sim = await Simulator.create({ charmDir });
  sims.push(sim);
  const cacheDir = path.join(charmDir, '.v8-cache');
  const hookCaches = () => fs.readdirSync(cacheDir).filter((name) => name.startsWith('hook.'));
  const converged = await runAll(sim, DEPLOY, await loopbackState());
  expect(converged.unitStatus.message).toMatch(/^Serving 0 images /);
  const [first] = hookCaches();
  expect(hookCaches()).toEqual([first]);
  const again = await sim.run('update-status', converged);
  expect(again.exitCode).toBe(0);
  expect(again.unitStatus).toEqual(converged.unitStatus);
  expect(hookCaches()).toEqual([first]);

  // A new revision whose bundle differs in one string but not in length: V8 alone would take the old cache.
  const bundle = path.join(charmDir, 'dist/bundle.cjs');
  const text = fs.readFileSync(bundle, 'utf8');
  expect(text).toContain('Serving ');
  fs.writeFileSync(bundle, text.replaceAll('Serving ', 'Servinx '));
  const changed = await sim.run('update-status', again);
  expect(changed.exitCode).toBe(0);
  expect(changed.unitStatus.message).toMatch(/^Servinx 0 images /);
  expect(hookCaches()).toHaveLength(1);
  expect(hookCaches()).not.toEqual([first]);

  // Actions have caches of their own.
  const listed = await sim.run({ action: 'list-images' }, changed);
  expect(listed.action).toMatchObject({ status: 'completed' });
  expect(fs.readdirSync(cacheDir).filter((name) => name.startsWith('action-list-images.'))).toHaveLength(1);
});
