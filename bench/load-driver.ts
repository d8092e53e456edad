// One image load by the charm's own loader in its own process, so the benchmark can time it and read
// its peak RSS apart from the benchmark's. Bundled with esbuild by bench/images.ts and run with node:
//   node load-driver.mjs '{"sources":[...],"writerUrl":"http://127.0.0.1:PORT","root":"/tmp/..."}'
// Prints one JSON line: seconds, bytesPushed, maxRssKiB, image counts, failures.
import { loadIntoRegistry } from '../src/loading.js';
import { loadFailures, summary } from '../src/records.js';
import { unitPaths } from '../src/registry/paths.js';
import type { LayerCompression } from '../src/settings.js';

export interface DriverRequest {
  sources: string[];
  writerUrl: string;
  root: string;
  layerCompression?: LayerCompression;
}

export interface DriverResult {
  seconds: number;
  bytesPushed: number;
  maxRssKiB: number;
  loaded: number;
  present: number;
  failed: number;
  failures: string[];
}

const arg = process.argv[2];
if (!arg) {
  console.error('usage: load-driver \'{"sources":["archive.tar"],"writerUrl":"http://127.0.0.1:PORT","root":"/tmp/unit-root"}\'');
  process.exit(2);
}
const request = JSON.parse(arg) as DriverRequest;
const start = process.hrtime.bigint();
const report = await loadIntoRegistry({
  sources: request.sources,
  writerUrl: request.writerUrl,
  paths: unitPaths(request.root),
  layerCompression: request.layerCompression ?? 'none',
});
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const failures = loadFailures(report);
const result: DriverResult = {
  seconds,
  bytesPushed: report.bytesPushed,
  // kilobytes on Linux (getrusage ru_maxrss)
  maxRssKiB: process.resourceUsage().maxRSS,
  ...summary(report),
  failures,
};
console.log(JSON.stringify(result));
process.exitCode = failures.length > 0 ? 1 : 0;
