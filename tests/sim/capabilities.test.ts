// The fake systemctl runs a service with the capabilities its unit grants: a non-root User=
// without CAP_NET_BIND_SERVICE really cannot bind a port below 1024 (the kernel says EACCES),
// as on a real systemd machine; AmbientCapabilities=CAP_NET_BIND_SERVICE lets it.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Simulator } from '../harness/index.js';
import { freeLowPort } from '../support/low-port.js';
import { makeFakeCharm, type FakeCharm } from './fake-charm.js';

const asRoot = process.getuid?.() === 0;
if (!asRoot) console.warn('capability tests skipped: they need root (to have a capability to drop)');
const maybe = asRoot ? describe : describe.skip;

let charm: FakeCharm;
beforeAll(() => {
  charm = makeFakeCharm();
});
afterAll(() => charm.remove());

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-caps-'));
const listener = path.join(tmp, 'listen.cjs');
fs.writeFileSync(listener, "require('net').createServer().listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'));\n");
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function listenerUnit(port: number, extra: string[]): string {
  return ['[Service]', `ExecStart=${process.execPath} ${listener} ${port}`, 'User=nobody', ...extra, ''].join('\\n');
}

const hook = (unit: string) =>
  [
    'mkdir -p "$OFFLINE_REGISTRY_ROOT/etc/systemd/system"',
    `printf '${unit}' > "$OFFLINE_REGISTRY_ROOT/etc/systemd/system/low.service"`,
    'systemctl daemon-reload',
    'systemctl start low.service',
  ].join('\n');

const answers = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.end(() => resolve(true)));
    s.on('error', () => resolve(false));
  });

maybe('fake systemctl and CAP_NET_BIND_SERVICE', () => {
  let sim: Simulator;
  beforeEach(async () => {
    sim = await Simulator.create({ charmDir: charm.dir, timeoutMs: 20000 });
  });
  afterEach(() => sim.cleanup());

  test('User= without the capability: the bind fails with EACCES, the unit fails, status shows its log', async () => {
    const port = await freeLowPort(1023, 900);
    charm.setHook(`${hook(listenerUnit(port, []))}\nwhile systemctl is-active -q low; do :; done\nsystemctl is-failed low\nsystemctl status --lines=20 low`);
    const out = await sim.run('install');
    expect(out.stdout).toMatch(/^failed\n/);
    expect(out.stdout).toMatch(/low\[\d+\]: .*EACCES: permission denied 127\.0\.0\.1:\d+/);
    expect(await answers(port)).toBe(false);
  });

  test('AmbientCapabilities=CAP_NET_BIND_SERVICE with the bounding set limited to it: the service binds', async () => {
    const port = await freeLowPort(1023, 900);
    charm.setHook(`${hook(listenerUnit(port, ['AmbientCapabilities=CAP_NET_BIND_SERVICE', 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE']))}\nuntil grep -q listening "$JUJU_SIM_DIR/units/low.service.log" 2>/dev/null || ! systemctl is-active -q low; do :; done\nsystemctl is-active low`);
    const out = await sim.run('install');
    expect(out.stdout).toBe('active\n');
    expect(await answers(port)).toBe(true);
  });
});
