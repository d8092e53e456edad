// npm run demo: the packed charm deployed into a local simulated unit (hook tools from tests/sim,
// the real docker-registry on 127.0.0.1) the way Juju would, with an images resource and a
// containerd relation; prints what an operator would see, then stops the unit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeRelationValue } from '../src/relations/docker-registry.js';
import { writeDockerSave } from '../tests/support/archives.js';
import { httpsRequest } from '../tests/support/https.js';
import { DEPLOY, loopbackState, newUnit, portsOf, runAll } from '../tests/integration/charm-under-test.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'offline-registry-demo-'));
const sim = await newUnit();
try {
  const images = path.join(work, 'images.tar');
  await writeDockerSave(images, [
    { tags: ['registry.k8s.io/pause:3.9'], layers: [{ seed: 'demo-base', size: 2_000_000 }, { seed: 'demo-pause', size: 300_000 }] },
    { tags: ['rocks.canonical.com:443/cdk/coredns/coredns:1.11.1'], layers: [{ seed: 'demo-base', size: 2_000_000 }, { seed: 'demo-coredns', size: 900_000 }] },
  ]);
  const state = await loopbackState({
    resources: { images },
    relations: [
      { id: 1, endpoint: 'registry-peers', remoteApp: 'offline-registry', remoteUnits: [] },
      { id: 2, endpoint: 'docker-registry', remoteApp: 'containerd', remoteUnits: ['containerd/0'] },
    ],
  });
  delete state.config!.tls; // the default: TLS from a CA the leader makes
  const { port } = portsOf(state);

  console.log(`juju deploy ./offline-registry.charm --resource images=${images}   (simulated unit, root ${sim.rootDir})`);
  // One event at a time, as Juju runs them, so each status line names the hook that set it.
  let out = await runAll(sim, [DEPLOY[0]], state);
  const printStatuses = (hook: string, run: typeof out) => {
    for (const s of run.thisRun.statusHistory) console.log(`  [${hook} hook] status ${s.status}: ${s.message}`);
  };
  printStatuses(DEPLOY[0], out);
  for (const hook of DEPLOY.slice(1)) {
    out = await runAll(sim, [hook], out);
    printStatuses(hook, out);
  }

  console.log('\njuju integrate offline-registry containerd');
  out = await sim.run('docker-registry-relation-joined', out, { relation: 2, remoteUnit: 'containerd/0' });
  const bag = out.relations.find((r) => r.id === 2)!.localUnitData;
  for (const key of ['registry_netloc', 'registry_url', 'basic_user', 'mirrors', 'custom_registries']) {
    console.log(`  ${key} = ${JSON.stringify(decodeRelationValue(bag[key]))}`);
  }
  console.log(`  tls_ca = ${String(decodeRelationValue(bag.tls_ca)).split('\n')[0]}...`);

  console.log('\njuju run offline-registry/0 list-images');
  const listed = await sim.run({ action: 'list-images' }, out);
  for (const line of listed.action!.logs) console.log(`  ${line}`);
  const rows = Object.values(listed.action!.results.images as Record<string, { size: string }>);
  const sum = rows.reduce((total, row) => total + Number(row.size), 0);
  console.log(`  (list-images sizes add up to ${(sum / 1048576).toFixed(1)} MiB: each image counts its layers; the status's size counts each blob once, and both images share one ${(2_000_000 / 1048576).toFixed(1)} MiB base layer)`);

  const creds = await sim.run({ action: 'get-credentials' }, out);
  const ca = String(creds.action!.results['ca-cert']);
  const ping = await httpsRequest(`https://127.0.0.1:${port}/v2/cdk/coredns/coredns/tags/list`, { ca });
  console.log(`\nGET https://127.0.0.1:${port}/v2/cdk/coredns/coredns/tags/list (trusting only the charm's CA) -> ${ping.status} ${ping.body.trim()}`);
  console.log(`status (as the last hook, docker-registry-relation-joined, left it): ${out.unitStatus.status}: ${out.unitStatus.message}`);

  console.log('\n[stop hook] stopping the simulated unit');
  await runAll(sim, ['stop'], out);
  console.log(
    [
      '',
      'Next, for a real air-gapped site (README, "The air-gapped walk-through"):',
      '  1. on a connected machine: npm run kit -- --list container-images/v1.32.0.txt --arch amd64,arm64 -o kit/',
      '  2. carry kit/ across and check it: sha256sum -c SHA256SUMS',
      '  3. run the juju deploy line from kit/README.md, then juju integrate offline-registry containerd',
      '  4. verify: juju run offline-registry/0 check-images',
    ].join('\n'),
  );
} finally {
  await sim.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
}
