// npm run demo: the packed charm in a local simulated unit (hook tools from tests/sim, the real
// docker-registry), deployed the way Juju would, then stopped again.
import { DEPLOY, loopbackState, newUnit, portsOf, runAll } from '../tests/integration/charm-under-test.js';

const sim = await newUnit();
try {
  const state = await loopbackState();
  console.log(`deploying the packed charm into a simulated unit (root ${sim.rootDir})`);
  let out = await runAll(sim, DEPLOY, state);
  for (const event of DEPLOY) console.log(`  ran ${event}`);
  out = await runAll(sim, ['update-status'], out);
  const { port } = portsOf(state);
  const ping = await fetch(`http://127.0.0.1:${port}/v2/`);
  console.log(`status: ${out.unitStatus.status}: ${out.unitStatus.message}`);
  console.log(`registry version ${out.workloadVersion}; GET http://127.0.0.1:${port}/v2/ -> ${ping.status} (${ping.headers.get('docker-distribution-api-version')})`);
  console.log('stopping the simulated unit');
  await runAll(sim, ['stop'], out);
} finally {
  await sim.cleanup();
}
