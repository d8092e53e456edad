// dist/charm.cjs (src/boot.ts) runs dist/bundle.cjs through a V8 code cache: the built loader, run
// as dispatch runs it, on small bundles in a temp charm dir.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheFileName, eventKind } from '../../src/boot.js';

const repo = path.resolve(new URL('../..', import.meta.url).pathname);
const loader = path.join(repo, 'build/charm/dist/charm.cjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'boot-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let charms = 0;
/** A charm dir with the built loader and `bundle` as dist/bundle.cjs. */
function charmDir(bundle: string): string {
  if (!fs.existsSync(loader)) throw new Error(`${loader} is missing: run "npm run build" (npm test builds first)`);
  const dir = path.join(tmp, `charm-${charms++}`);
  fs.mkdirSync(path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(loader, path.join(dir, 'dist/charm.cjs'));
  fs.writeFileSync(path.join(dir, 'dist/bundle.cjs'), bundle);
  return dir;
}

function run(dir: string, dispatchPath = 'hooks/update-status') {
  const r = spawnSync(process.execPath, [path.join(dir, 'dist/charm.cjs')], {
    cwd: dir,
    env: { PATH: process.env.PATH, JUJU_DISPATCH_PATH: dispatchPath, OFFLINE_REGISTRY_BOOT_DEBUG: '1' },
    encoding: 'utf8',
  });
  const cache = /offline-registry boot: code cache (\w+)/.exec(r.stderr)?.[1];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, cache };
}

const caches = (dir: string) => (fs.existsSync(path.join(dir, '.v8-cache')) ? fs.readdirSync(path.join(dir, '.v8-cache')).sort() : []);

// Enough functions that V8 has something to cache, and a result that names the code that ran.
const bundle = (word: string) =>
  `'use strict';\nconst parts = [];\nfor (let i = 0; i < 200; i++) parts.push(((n) => n * 2)(i));\nfunction answer() { return "${word}:" + parts.length + ":" + __filename.endsWith('/dist/bundle.cjs'); }\nconsole.log(answer());\n`;

test('the first run compiles and writes the cache, the next runs from it, with the same result', () => {
  const dir = charmDir(bundle('alpha'));
  const first = run(dir);
  expect(first).toMatchObject({ status: 0, stdout: 'alpha:200:true\n', cache: 'compiled' });
  const source = fs.readFileSync(path.join(dir, 'dist/bundle.cjs'));
  expect(caches(dir)).toEqual([cacheFileName(source, 'hook')]);
  const second = run(dir);
  expect(second).toMatchObject({ status: 0, stdout: 'alpha:200:true\n', cache: 'used' });
});

test('a changed bundle of the same length never runs from the older cache (V8 alone would accept it)', () => {
  const dir = charmDir(bundle('alpha'));
  expect(run(dir).cache).toBe('compiled');
  const old = caches(dir);
  // Same length: V8's own check of a code cache against its source is the source's length.
  fs.writeFileSync(path.join(dir, 'dist/bundle.cjs'), bundle('omega'));
  const r = run(dir);
  expect(r).toMatchObject({ status: 0, stdout: 'omega:200:true\n', cache: 'compiled' });
  // The older revision's cache is gone; the new one is used from then on.
  expect(caches(dir)).toHaveLength(1);
  expect(caches(dir)).not.toEqual(old);
  expect(run(dir)).toMatchObject({ stdout: 'omega:200:true\n', cache: 'used' });
});

test('a cache V8 cannot use is rejected, the bundle runs from source, and a good cache replaces it', () => {
  const dir = charmDir(bundle('alpha'));
  const name = cacheFileName(fs.readFileSync(path.join(dir, 'dist/bundle.cjs')), 'hook');
  fs.mkdirSync(path.join(dir, '.v8-cache'));
  fs.writeFileSync(path.join(dir, '.v8-cache', name), Buffer.alloc(4096, 7));
  expect(run(dir)).toMatchObject({ status: 0, stdout: 'alpha:200:true\n', cache: 'rejected' });
  expect(run(dir)).toMatchObject({ status: 0, stdout: 'alpha:200:true\n', cache: 'used' });
});

test('each action has its own cache, apart from the hooks', () => {
  const dir = charmDir(bundle('alpha'));
  run(dir);
  expect(run(dir, 'actions/load-images')).toMatchObject({ status: 0, cache: 'compiled' });
  expect(run(dir, 'actions/load-images').cache).toBe('used');
  const source = fs.readFileSync(path.join(dir, 'dist/bundle.cjs'));
  expect(caches(dir)).toEqual([cacheFileName(source, 'action-load-images'), cacheFileName(source, 'hook')].sort());
  expect(eventKind('hooks/docker-registry-relation-changed')).toBe('hook');
  expect(eventKind('actions/get-credentials')).toBe('action-get-credentials');
  expect(eventKind('actions/../x')).toBe('action-__-x');
});

test('no writable cache dir: hooks still run, from source', () => {
  const dir = charmDir(bundle('alpha'));
  fs.writeFileSync(path.join(dir, '.v8-cache'), 'not a directory');
  expect(run(dir)).toMatchObject({ status: 0, stdout: 'alpha:200:true\n', cache: 'compiled' });
  expect(run(dir)).toMatchObject({ status: 0, stdout: 'alpha:200:true\n', cache: 'compiled' });
});

test('the bundle keeps CommonJS semantics: require of its siblings, __dirname, exit codes and errors', () => {
  const dir = charmDir(
    [
      "const side = require('./side.cjs');",
      'setImmediate(() => {',
      "  console.log(side.name, __dirname.endsWith('/dist'), typeof module.exports);",
      "  if (process.env.JUJU_DISPATCH_PATH === 'hooks/fail') throw new Error('boom from the bundle');",
      '  process.exitCode = 3;',
      '});',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dir, 'dist/side.cjs'), "exports.name = 'side';");
  for (const expected of ['compiled', 'used']) expect(run(dir)).toMatchObject({ status: 3, stdout: 'side true object\n', cache: expected });
  const failed = run(dir, 'hooks/fail');
  expect(failed).toMatchObject({ status: 1, cache: 'used' });
  expect(failed.stderr).toContain('Error: boom from the bundle');
  expect(failed.stderr).toContain(path.join(dir, 'dist/bundle.cjs'));
});
