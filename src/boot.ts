// dist/charm.cjs, the file dispatch runs: it compiles the charm bundle (dist/bundle.cjs) with a V8
// code cache, so a hook does not parse ~470 KiB of JavaScript and recompile the functions it calls.
// The cache is V8's own (vm.Script cachedData), written once per bundle, Node.js build and event:
//  - its file name holds a sha256 of the bundle's bytes and of the Node.js binary (version, arch,
//    path, size, mtime), so a bundle that changed in any byte (a new charm revision) or another
//    Node.js never finds an old cache;
//  - V8 checks its version and flags itself and rejects a cache it cannot use (cachedDataRejected):
//    the bundle is then compiled from source and the cache written anew;
//  - one cache per event kind (all hooks share one, each action its own): a cache written after a
//    run holds the functions that run compiled, and an action runs other code than update-status.
// Without a writable cache dir the bundle runs from source, as fast as before the cache existed.
// Code from a V8 code cache has no loader for import() (Node.js 20 keeps no host options in the
// cache): the bundle holds no import() (scripts/build.mjs checks) and requires what it loads.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export const BUNDLE = 'bundle.cjs';
export const CACHE_DIR = '.v8-cache';

/** The cache kind of a dispatch path: `hook` for every hook, `action-<name>` for an action. */
export function eventKind(dispatchPath: string | undefined): string {
  const [dir, ...rest] = (dispatchPath ?? '').split('/');
  if (dir !== 'actions') return 'hook';
  return `action-${rest.join('-').replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

/** The cache file for these bundle bytes under this Node.js binary, for one event kind. */
export function cacheFileName(source: Buffer, kind: string): string {
  // The binary itself too (path, size, mtime): two builds of one Node.js version need not agree.
  let binary = process.execPath;
  try {
    const st = fs.statSync(process.execPath);
    binary += `\0${st.size}\0${st.mtimeMs}`;
  } catch {
    // Not statable: the version, arch and V8's own checks still hold.
  }
  const node = `\0${process.version}\0${process.arch}\0${process.platform}\0${binary}`;
  const key = crypto.createHash('sha256').update(source).update(node).digest('hex').slice(0, 32);
  return `${kind}.${key}.v8cache`;
}

function readCache(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes the cache atomically (a reader never sees half a file) and drops this kind's older caches. */
function writeCache(dir: string, name: string, data: Buffer): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
    fs.writeFileSync(tmp, data, { mode: 0o644 });
    fs.renameSync(tmp, path.join(dir, name));
    const kind = name.slice(0, name.indexOf('.'));
    for (const other of fs.readdirSync(dir)) {
      if (other !== name && other.startsWith(`${kind}.`) && other.endsWith('.v8cache')) fs.rmSync(path.join(dir, other), { force: true });
    }
  } catch {
    // A read-only charm dir: hooks run without a cache, as fast as before it existed.
  }
}

export interface BootOutcome {
  /** `used`: from the cache; `compiled` (no cache) or `rejected` (V8 refused it): from source, and a cache is written after the run. */
  cache: 'used' | 'rejected' | 'compiled';
}

/** Runs `bundle` (a CommonJS file) through a code cache in `cacheDir`. */
export function runBundle(bundle: string, cacheDir: string, kind: string): BootOutcome {
  const source = fs.readFileSync(bundle);
  const name = cacheFileName(source, kind);
  const cachedData = readCache(path.join(cacheDir, name));
  // The CommonJS wrapper Node.js itself puts around a module.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) { ${source.toString('utf8')}\n})`, { filename: bundle, cachedData });
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  // After the run, so the cache also holds the functions the run compiled.
  if (!usable) process.once('exit', () => writeCache(cacheDir, name, script.createCachedData()));
  const module = { exports: {}, filename: bundle, id: bundle, loaded: false };
  const wrapper = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: object, filename: string, dirname: string) => void;
  wrapper.call(module.exports, module.exports, createRequire(bundle), module, bundle, path.dirname(bundle));
  return { cache: usable ? 'used' : cachedData ? 'rejected' : 'compiled' };
}

// Bundled as CommonJS (dist/charm.cjs) this is the entry; imported by tests (ESM) it only exports.
if (typeof require !== 'undefined' && require.main === module) {
  const dist = __dirname;
  const outcome = runBundle(path.join(dist, BUNDLE), path.join(dist, '..', CACHE_DIR), eventKind(process.env.JUJU_DISPATCH_PATH));
  if (process.env.OFFLINE_REGISTRY_BOOT_DEBUG) process.stderr.write(`offline-registry boot: code cache ${outcome.cache}\n`);
}
