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
  let out = await runAll(sim, DEPLOY, state);
  for (const s of out.statusHistory) console.log(`  status ${s.status}: ${s.message}`);

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

  const creds = await sim.run({ action: 'get-credentials' }, out);
  const ca = String(creds.action!.results['ca-cert']);
  const ping = await httpsRequest(`https://127.0.0.1:${port}/v2/cdk/coredns/coredns/tags/list`, { ca });
  console.log(`\nGET https://127.0.0.1:${port}/v2/cdk/coredns/coredns/tags/list (trusting only the charm's CA) -> ${ping.status} ${ping.body.trim()}`);
  console.log(`status: ${out.unitStatus.status}: ${out.unitStatus.message}`);

  console.log('\nstopping the simulated unit');
  await runAll(sim, ['stop'], out);
} finally {
  await sim.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
}
