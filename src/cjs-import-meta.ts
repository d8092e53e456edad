// Injected by scripts/build.mjs into the CommonJS bundles, where import.meta does not exist:
// import.meta.url is defined as this, the bundle file's own URL (src/day2/audit.ts finds kube.cjs by it).
// (An injected module rather than a banner: the bundle's "use strict" must stay its first statement.)
export const __bundleUrl: string = require('node:url').pathToFileURL(__filename).href;
