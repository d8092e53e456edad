// dispatch finds a Node.js >= 18 (the charm's own runtime, then node/nodejs on PATH, then apt on
// install) or says clearly what is missing: a unit with only Ubuntu 22.04's nodejs 12.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Simulator, extractCharm } from '../harness/index.js';
import { loopbackState, newUnit } from './charm-under-test.js';

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
