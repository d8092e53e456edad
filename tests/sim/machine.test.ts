// The fake systemctl (which really runs unit files' ExecStart) and the fake apt-get, driven from
// hooks of a throwaway charm; plus unpacking a .charm zip with its file modes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yazl from 'yazl';
import { Simulator, extractCharm } from '../harness/index.js';
import { makeFakeCharm, type FakeCharm } from './fake-charm.js';

let charm: FakeCharm;

beforeAll(() => {
  charm = makeFakeCharm();
});

afterAll(() => {
  charm.remove();
});

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

const UNIT_DIR = 'etc/systemd/system';

describe('fake systemctl', () => {
  let sim: Simulator;

  beforeEach(async () => {
    sim = await Simulator.create({ charmDir: charm.dir, timeoutMs: 20000 });
  });

  afterEach(async () => {
    await sim.cleanup();
  });

  test('starts a unit file\'s ExecStart detached, reports it active, stops it, and cleanup kills it', async () => {
    charm.setHook(
      [
        `mkdir -p "$OFFLINE_REGISTRY_ROOT/${UNIT_DIR}"`,
        `printf '[Unit]\\nDescription=sleeper\\n[Service]\\nEnvironment="GREETING=hello world"\\nExecStart=-/bin/sh -c "echo $$GREETING; exec /bin/sleep 30"\\n[Install]\\nWantedBy=multi-user.target\\n' > "$OFFLINE_REGISTRY_ROOT/${UNIT_DIR}/sleeper.service"`,
        'systemctl daemon-reload',
        'systemctl enable --now sleeper.service',
        'systemctl is-active sleeper; echo "rc=$?"',
        'systemctl is-enabled sleeper',
      ].join('\n'),
    );
    const out = await sim.run('install');
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('active\nrc=0\nenabled\n');
    expect(out.systemctlCalls).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'sleeper.service'],
      ['systemctl', 'is-active', 'sleeper'],
      ['systemctl', 'is-enabled', 'sleeper'],
    ]);
    const pid = sim.unit('sleeper')?.pid;
    expect(pid).toBeGreaterThan(0);
    expect(pidAlive(pid!)).toBe(true);
    // systemd gives services a clean environment plus Environment=.
    await waitForLog(sim, 'sleeper', 'hello world');

    charm.setHook('systemctl stop sleeper; systemctl is-active sleeper; echo "rc=$?"');
    const stopped = await sim.run('stop', out);
    expect(stopped.stdout).toBe('inactive\nrc=3\n');
    expect(pidAlive(pid!)).toBe(false);

    charm.setHook('systemctl start sleeper');
    await sim.run('start', stopped);
    const again = sim.unit('sleeper')?.pid;
    expect(again).toBeGreaterThan(0);
    expect(pidAlive(again!)).toBe(true);
    await sim.cleanup();
    expect(pidAlive(again!)).toBe(false);
  });

  test('a unit without a file can be stopped, disabled and masked, but not started', async () => {
    charm.setHook(
      [
        'systemctl stop docker-registry.service; echo "stop=$?"',
        'systemctl disable --now docker-registry.service; echo "disable=$?"',
        'systemctl mask docker-registry.service; echo "mask=$?"',
        'systemctl start docker-registry.service; echo "start=$?"',
        'systemctl start nothing-here; echo "missing=$?"',
        'systemctl is-active nothing-here; echo "active=$?"',
      ].join('\n'),
    );
    const out = await sim.run('install');
    expect(out.stdout).toBe('stop=0\ndisable=0\nmask=0\nstart=1\nmissing=5\ninactive\nactive=3\n');
    expect(out.stderr).toBe(
      'Failed to start docker-registry.service: Unit docker-registry.service is masked.\n' +
        'Failed to start nothing-here.service: Unit nothing-here.service not found.\n',
    );
    expect(sim.unit('docker-registry')).toMatchObject({ masked: true, enabled: false });
  });

  test('a service that exits non-zero is reported failed', async () => {
    fs.mkdirSync(path.join(sim.rootDir, UNIT_DIR), { recursive: true });
    fs.writeFileSync(path.join(sim.rootDir, UNIT_DIR, 'crash.service'), '[Service]\nExecStart=/bin/false\n');
    // Waits (bounded) for the service to have failed rather than sleeping a guessed time.
    charm.setHook('systemctl start crash; i=0; while [ "$(systemctl is-active crash)" != failed ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; systemctl is-active crash; systemctl is-failed crash; echo "rc=$?"');
    const out = await sim.run('install');
    expect(out.stdout).toBe('failed\nfailed\nrc=0\n');
  });

  test('a unit file changed without daemon-reload keeps its old definition, with systemd\'s warning', async () => {
    const dir = path.join(sim.rootDir, UNIT_DIR);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'v.service'), '[Service]\nExecStart=/bin/sh -c "echo one; exec sleep 30"\n');
    // Stopped only once it has printed: a stop right after start may kill it before its echo.
    charm.setHook('systemctl start v');
    await sim.run('install');
    await waitForLog(sim, 'v', 'one\n');
    charm.setHook('systemctl stop v');
    await sim.run('stop');
    fs.writeFileSync(path.join(dir, 'v.service'), '[Service]\nExecStart=/bin/sh -c "echo two; exec sleep 30"\n');
    charm.setHook('systemctl restart v');
    const out = await sim.run('config-changed');
    expect(out.stderr).toContain("changed on disk. Run 'systemctl daemon-reload' to reload units.");
    await waitForLog(sim, 'v', 'one\none\n');
    expect(sim.unitLog('v')).not.toContain('two');
  });
});

async function waitForLog(sim: Simulator, unit: string, text: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!sim.unitLog(unit).includes(text)) {
    if (Date.now() > deadline) throw new Error(`log of ${unit} never contained ${JSON.stringify(text)}: ${JSON.stringify(sim.unitLog(unit))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('fake apt-get', () => {
  test('installs only packages in apt.available and records them', async () => {
    const sim = await Simulator.create({ charmDir: charm.dir });
    try {
      charm.setHook('apt-get update -q; apt-get install -y -qq nodejs; echo "ok=$?"; apt-get install -y nodejs left-pad; echo "missing=$?"');
      const out = await sim.run('install', { apt: { available: ['nodejs', 'docker-registry'] } });
      expect(out.stdout).toContain('ok=0');
      expect(out.stdout).toContain('missing=100');
      expect(out.stderr).toBe('E: Unable to locate package left-pad\n');
      expect(out.apt.installed).toEqual(['nodejs']);
      expect(out.aptCalls).toEqual([
        ['apt-get', 'update', '-q'],
        ['apt-get', 'install', '-y', '-qq', 'nodejs'],
        ['apt-get', 'install', '-y', 'nodejs', 'left-pad'],
      ]);
    } finally {
      await sim.cleanup();
    }
  });
});

describe('extractCharm', () => {
  test('unpacks a .charm zip keeping dispatch executable, and the simulator runs it', async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'charm-zip-'));
    try {
      const zip = new yazl.ZipFile();
      for (const name of ['metadata.yaml', 'config.yaml', 'actions.yaml']) {
        zip.addBuffer(fs.readFileSync(path.join(charm.dir, name)), name, { mode: 0o100644 });
      }
      zip.addBuffer(Buffer.from('#!/bin/sh\nstatus-set active -- packed\n'), 'dispatch', { mode: 0o100755 });
      zip.addBuffer(Buffer.from('x'), 'lib/readme.txt', { mode: 0o100600 });
      const charmFile = path.join(work, 'offline-registry.charm');
      await new Promise<void>((resolve, reject) => {
        zip.outputStream.pipe(fs.createWriteStream(charmFile)).on('close', resolve).on('error', reject);
        zip.end();
      });

      const dir = await extractCharm(charmFile, path.join(work, 'unpacked'));
      expect(fs.statSync(path.join(dir, 'dispatch')).mode & 0o777).toBe(0o755);
      expect(fs.statSync(path.join(dir, 'lib/readme.txt')).mode & 0o777).toBe(0o600);

      const sim = await Simulator.create({ charmDir: dir });
      try {
        const out = await sim.run('start');
        expect(out.unitStatus).toEqual({ status: 'active', message: 'packed' });
      } finally {
        await sim.cleanup();
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});
