// list-images on a registry with hundreds of tags: the parallel reads against the same listing done
// one request at a time, in the same run.
import { listImages } from '../src/day2/index.js';
import { MEDIA_TYPES, createRegistryClient } from '../src/images/remote/index.js';
import { blob, pushImage } from '../tests/day2/images.js';
import { startTestRegistry } from '../tests/support/registry.js';

const TAGS = 300;
const REPOS = 10;

export async function benchList(): Promise<void> {
  const registry = await startTestRegistry();
  const client = createRegistryClient({ baseUrl: registry.url });
  try {
    const img = await pushImage(client, 'bench/seed', 'seed', [blob(1000), blob(2000)]);
    const repos = Array.from({ length: REPOS }, (_, i) => `bench/r${i}`);
    for (const repo of repos) for (const b of [img.config, ...img.layers]) await client.mountBlob(repo, b.digest, 'bench/seed');
    for (let i = 0; i < TAGS; i += 30) {
      await Promise.all(Array.from({ length: 30 }, (_, j) => client.putManifest(repos[(i + j) % REPOS], `v${i + j}`, MEDIA_TYPES.ociManifest, img.manifest)));
    }
    const time = async (concurrency: number) => {
      const started = process.hrtime.bigint();
      const rows = await listImages(client, {}, { filter: 'bench/r*', concurrency });
      if (rows.length !== TAGS) throw new Error(`listed ${rows.length} of ${TAGS} tags`);
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    await time(16); // warm the registry's caches and the sockets
    const parallel: number[] = [];
    const sequential: number[] = [];
    for (let round = 0; round < 3; round++) {
      parallel.push(await time(16));
      sequential.push(await time(1));
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1];
    console.log(`== list-images over ${TAGS} tags in ${REPOS} repositories (medians of 3) ==`);
    console.log(`parallel (16 requests at a time) ${median(parallel).toFixed(0)} ms, one at a time ${median(sequential).toFixed(0)} ms: ${(median(sequential) / median(parallel)).toFixed(1)}x faster`);
  } finally {
    client.close();
    await registry.stop();
  }
}
