// Bundles the charm: no node_modules at run time.
//   dist/bundle.cjs    every hook and action (src/main.ts), one CommonJS file: modules that only some
//                      events need (actions, the image loader, yaml, bcrypt, lzma, the push client...)
//                      are dynamic imports, evaluated only by the event that imports them
//   dist/charm.cjs     what dispatch runs (src/boot.ts): compiles bundle.cjs with a V8 code cache
//   dist/kube.cjs      @kubernetes/client-node (~3.5 MB), required at run time by audit-cluster only
//   dist/exporter.mjs  the metrics exporter, a long-running service while cos-agent is related (src/cos)
// CommonJS, not ESM, for the hook bundle: Node.js 20 has no code cache for ES modules, and its ESM
// loader costs every hook a few milliseconds more. Code run from a V8 code cache has no loader for
// import(), so bundle.cjs must hold none (esbuild turns the import() of a bundled module into a
// lazy require): kube.cjs is CommonJS for that reason.
import { build } from 'esbuild';
import fs from 'node:fs';
import { builtinModules } from 'node:module';

const common = { bundle: true, platform: 'node', target: 'node18', logLevel: 'warning', legalComments: 'none', minify: true };
// Bundled CommonJS dependencies may call require(): give the ESM bundle one.
const esmBanner = { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" };
// The CommonJS bundles' import.meta.url (src/day2/audit.ts finds kube.cjs beside bundle.cjs).
const cjsMeta = { define: { 'import.meta.url': '__bundleUrl' }, inject: ['src/cjs-import-meta.ts'] };

// esbuild turns each `import fs from 'node:fs'` of an ES module into its own copy of the builtin's
// exports (__toESM: one getter per export, ~100 for fs or process). bundle.cjs has ~75 such
// imports, ~5 ms of every hook: this routes them through one shim module per builtin instead.
// (require() of a builtin, in bundled CommonJS code, stays a plain require: the very same object.)
const builtins = new Set(builtinModules);
const oneCopyPerBuiltin = {
  name: 'one-copy-per-builtin',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/0-9]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!builtins.has(name)) return undefined;
      if (args.namespace === 'builtin-shim' || args.kind !== 'import-statement') return { path: `node:${name}`, external: true };
      return { path: name, namespace: 'builtin-shim' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin-shim' }, (args) => ({ contents: `import m from "node:${args.path}"; export default m; export * from "node:${args.path}";`, loader: 'js' }));
  },
};

fs.rmSync('build/charm/dist', { recursive: true, force: true });
const bundles = [
  { entry: 'src/main.ts', outfile: 'build/charm/dist/bundle.cjs', format: 'cjs', ...cjsMeta, plugins: [oneCopyPerBuiltin] },
  { entry: 'src/boot.ts', outfile: 'build/charm/dist/charm.cjs', format: 'cjs' },
  { entry: 'src/day2/kube-client.ts', outfile: 'build/charm/dist/kube.cjs', format: 'cjs', ...cjsMeta },
  { entry: 'src/cos/exporter.ts', outfile: 'build/charm/dist/exporter.mjs', format: 'esm', banner: esmBanner },
];
await Promise.all(bundles.map(({ entry, ...options }) => build({ ...common, entryPoints: [entry], ...options })));
// A static import of ./kube-client.js anywhere in the hook code would inline client-node into bundle.cjs.
if (fs.readFileSync('build/charm/dist/bundle.cjs', 'utf8').includes('listPodForAllNamespaces')) {
  console.error('build/charm/dist/bundle.cjs contains @kubernetes/client-node: import src/day2/kube-client.ts only through loadKubeClient() in src/day2/audit.ts');
  process.exit(1);
}
// An import() esbuild left in place (a specifier it could not resolve at build time) would fail in
// every hook run from the code cache with ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING.
// (The one allowed is loadKubeClient's import of ./kube-client.js, taken from TypeScript only.)
const leftImport = /\bimport\((?!"\.\/kube-client\.js"\))/.exec(fs.readFileSync('build/charm/dist/bundle.cjs', 'utf8'));
if (leftImport) {
  console.error(`build/charm/dist/bundle.cjs calls import() at offset ${leftImport.index}: load a module the bundle does not hold with require() (see loadKubeClient in src/day2/audit.ts)`);
  process.exit(1);
}
for (const { outfile } of bundles) console.log(`built ${outfile} (${(fs.statSync(outfile).size / 1024).toFixed(0)} KiB)`);
