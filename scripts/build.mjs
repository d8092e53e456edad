// Bundles the charm into one ESM file: no node_modules at run time, one module to load per hook.
import { build } from 'esbuild';
import fs from 'node:fs';

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'warning', legalComments: 'none' };
// Bundled CommonJS dependencies may call require(): give the ESM bundle one.
const banner = { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" };

fs.rmSync('build/charm/dist', { recursive: true, force: true });
await build({ ...common, entryPoints: ['src/main.ts'], outfile: 'build/charm/dist/charm.mjs', minify: true, banner });
console.log(`built build/charm/dist/charm.mjs (${(fs.statSync('build/charm/dist/charm.mjs').size / 1024).toFixed(0)} KiB)`);
