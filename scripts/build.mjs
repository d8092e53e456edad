// Bundles the charm into one ESM file: no node_modules at run time, one module to load per hook.
import { build } from 'esbuild';
import fs from 'node:fs';

const common = { bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'warning', legalComments: 'none' };
// Bundled CommonJS dependencies may call require(): give the ESM bundle one.
const banner = { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" };

fs.rmSync('build/charm/dist', { recursive: true, force: true });
// Every hook parses charm.mjs; @kubernetes/client-node (~3.5 MB) goes in kube.mjs, which only
// audit-cluster imports, at run time.
const bundles = [
  { entry: 'src/main.ts', outfile: 'build/charm/dist/charm.mjs' },
  { entry: 'src/day2/kube-client.ts', outfile: 'build/charm/dist/kube.mjs' },
  // The charm's metrics exporter, a long-running service while cos-agent is related (src/cos).
  { entry: 'src/cos/exporter.ts', outfile: 'build/charm/dist/exporter.mjs' },
];
await Promise.all(bundles.map(({ entry, outfile }) => build({ ...common, entryPoints: [entry], outfile, minify: true, banner })));
// A static import of ./kube-client.js anywhere in the hook code would inline client-node into charm.mjs.
if (fs.readFileSync('build/charm/dist/charm.mjs', 'utf8').includes('listPodForAllNamespaces')) {
  console.error('build/charm/dist/charm.mjs contains @kubernetes/client-node: import src/day2/kube-client.ts only through loadKubeClient() in src/day2/audit.ts');
  process.exit(1);
}
for (const { outfile } of bundles) console.log(`built ${outfile} (${(fs.statSync(outfile).size / 1024).toFixed(0)} KiB)`);
