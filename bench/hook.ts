// A no-op update-status on a converged unit, with hook tools that answer instantly, against a bare
// `node -e 0`: what one hook costs beyond starting Node.js, and how many agent round trips it makes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { SIM_BIN_DIR, Simulator } from '../tests/harness/index.js';
import { DEPLOY, loopbackState, packedCharmDir, runAll } from '../tests/integration/charm-under-test.js';

const HOOK_TOOLS = ['config-get', 'network-get', 'status-set', 'juju-log', 'is-leader', 'application-version-set', 'open-port', 'close-port', 'opened-ports',
  'relation-ids', 'relation-list', 'relation-get', 'relation-set', 'resource-get', 'state-get', 'state-set', 'secret-get', 'secret-add', 'secret-set', 'unit-get'];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timeMs(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function benchHook(runs = 30): Promise<void> {
  const charmDir = await packedCharmDir();
  const sim = await Simulator.create({ charmDir });
  try {
    const state = await loopbackState();
    const converged = await runAll(sim, DEPLOY, state);
    if (converged.unitStatus.status !== 'active') throw new Error(`unit did not converge: ${converged.unitStatus.message}`);

    // Instant hook tools: canned answers, one line appended per call to count round trips.
    const toolsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'instant-tools-'));
    const callsFile = path.join(toolsDir, 'calls');
    const options = YAML.parse(fs.readFileSync(path.join(charmDir, 'config.yaml'), 'utf8')).options as Record<string, { default?: unknown }>;
    const config = { ...Object.fromEntries(Object.entries(options).map(([k, v]) => [k, v.default])), ...state.config };
    const answers: Record<string, string> = {
      'config-get': JSON.stringify(config),
      'network-get': JSON.stringify({ 'bind-addresses': [{ 'interface-name': 'lo', addresses: [{ value: '127.0.0.1', cidr: '127.0.0.0/8' }] }], 'ingress-addresses': ['127.0.0.1'], 'egress-subnets': ['127.0.0.1/32'] }),
      'is-leader': 'true',
      'relation-ids': '[]',
      'state-get': '{}',
      'opened-ports': JSON.stringify(converged.openedPorts),
    };
    for (const tool of HOOK_TOOLS) {
      const answer = answers[tool] ?? '';
      fs.writeFileSync(path.join(toolsDir, tool), `#!/bin/sh\necho ${tool} >> '${callsFile}'\nprintf '%s' '${answer.replace(/'/g, "'\\''")}'\n`, { mode: 0o755 });
    }
    const env = {
      PATH: `${toolsDir}:${SIM_BIN_DIR}:/usr/sbin:/usr/bin:/sbin:/bin`,
      JUJU_DISPATCH_PATH: 'hooks/update-status',
      JUJU_HOOK_NAME: 'update-status',
      JUJU_UNIT_NAME: 'offline-registry/0',
      JUJU_CHARM_DIR: charmDir,
      JUJU_SIM_DIR: sim.simDir,
      OFFLINE_REGISTRY_ROOT: sim.rootDir,
      LANG: 'C.UTF-8',
    };
    const dispatch = path.join(charmDir, 'dispatch');
    const hook: number[] = [];
    const bare: number[] = [];
    timeMs(dispatch, [], env, charmDir); // warm the page cache
    fs.rmSync(callsFile, { force: true });
    for (let i = 0; i < runs; i++) {
      hook.push(timeMs(dispatch, [], env, charmDir));
      bare.push(timeMs(process.execPath, ['-e', '0'], { PATH: env.PATH }));
    }
    const calls = fs.readFileSync(callsFile, 'utf8').trim().split('\n');
    if (process.env.BENCH_CPU_PROF) {
      // One more run under the V8 profiler, for looking into where a hook's time goes.
      // (--cpu-prof is refused in NODE_OPTIONS, so node runs the bundle directly, as dispatch would.)
      timeMs('node', ['--cpu-prof', '--cpu-prof-interval', '50', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`, 'dist/charm.cjs'], env, charmDir);
      console.log(`cpu profile of one update-status written to ${process.env.BENCH_CPU_PROF}`);
    }
    const perHook = calls.length / runs;
    const kinds = [...new Set(calls)].join(', ');
    const ratio = median(hook) / median(bare);
    console.log('== no-op update-status on a converged unit (instant hook tools) ==');
    console.log(`update-status median ${median(hook).toFixed(1)} ms, node -e 0 median ${median(bare).toFixed(1)} ms over ${runs} runs each, interleaved`);
    console.log(`ratio update-status / node -e 0: ${ratio.toFixed(2)}x (goal <= 2x)`);
    console.log(`hook-tool calls per update-status: ${perHook} (${kinds}) (goal <= 8)`);
    fs.rmSync(toolsDir, { recursive: true, force: true });
  } finally {
    await sim.cleanup();
  }
}
