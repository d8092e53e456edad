// The foundation driven through the packed charm's dispatch, as Juju would: a real registry comes
// up on deploy, stays converged, and reports clearly when it cannot.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '../support/ports.js';
import { DEPLOY, cleanupUnits, loopbackState, portsOf, runAll, servingPlain, unit } from './charm-under-test.js';

afterAll(cleanupUnits);

/** Every file under the charm's root with its mode and content hash: what a hook wrote. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      // The registry's own blob store is not the charm's writing.
      if (full.includes(`${path.sep}data${path.sep}docker`)) continue;
      if (entry.isDirectory()) walk(full);
      else {
        const stat = fs.statSync(full);
        out[path.relative(root, full)] = `${(stat.mode & 0o777).toString(8)} ${stat.mtimeMs} ${crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex')}`;
      }
    }
  };
  walk(root);
  return out;
}

test('deploy brings up a read-only public registry and a loopback writer, and goes active', async () => {
  const sim = await unit();
  const state = await loopbackState();
  const { port, writerPort } = portsOf(state);
  const out = await runAll(sim, [...DEPLOY, 'update-status'], state);

  expect(out.unitStatus).toEqual({ status: 'active', message: servingPlain(0, port) });
  expect(out.statusHistory.map((s) => s.status)).toContain('maintenance');
  expect(out.openedPorts).toEqual([`${port}/tcp`]);
  expect(out.workloadVersion).toMatch(/^\d+\.\d+\.\d+/);
  // The Debian package's own unit must not compete for the port and storage.
  expect(out.systemctlCalls).toContainEqual(['systemctl', 'mask', 'docker-registry.service']);

  const ping = await fetch(`http://127.0.0.1:${port}/v2/`);
  expect(ping.status).toBe(200);
  expect(ping.headers.get('docker-distribution-api-version')).toBe('registry/2.0');

  const publicPush = await fetch(`http://127.0.0.1:${port}/v2/library/test/blobs/uploads/`, { method: 'POST' });
  expect(publicPush.status).toBeGreaterThanOrEqual(400);
  const writerPush = await fetch(`http://127.0.0.1:${writerPort}/v2/library/test/blobs/uploads/`, { method: 'POST' });
  expect(writerPush.status).toBe(202);

  const publicConfig = path.join(sim.rootDir, 'etc/offline-registry/public.yml');
  expect(fs.statSync(publicConfig).mode & 0o777).toBe(0o600); // holds http.secret
  expect(fs.readFileSync(publicConfig, 'utf8')).toMatch(/readonly:\s*\n\s*enabled: true/);
});

test('every hook run a second time changes nothing', async () => {
  const sim = await unit();
  let state = await runAll(sim, DEPLOY, await loopbackState());
  for (const hook of ['install', 'leader-elected', 'config-changed', 'start', 'upgrade-charm', 'update-status']) {
    const first = await sim.run(hook, state);
    expect(first.exitCode).toBe(0);
    const before = snapshot(sim.rootDir);
    const second = await sim.run(hook, first);
    expect(second.exitCode).toBe(0);
    expect(snapshot(sim.rootDir)).toEqual(before);
    expect(second.thisRun.systemctlCalls).toEqual([]);
    expect(second.openedPorts).toEqual(first.openedPorts);
    expect(second.unitStatus).toEqual(first.unitStatus);
    expect(second.unitStatus.status).toBe('active');
    state = second;
  }
});

test('no registry package and no registry-package resource blocks with the fix', async () => {
  const sim = await unit();
  const out = await sim.run('install', await loopbackState({ apt: { available: [] } }));
  expect(out.exitCode).toBe(0);
  expect(out.unitStatus).toEqual({
    status: 'blocked',
    message: "docker-registry package not available: configure the model's apt-mirror or attach the registry-package resource",
  });
});

test('the registry-package resource (a registry binary) is used when there is no APT mirror', async () => {
  const sim = await unit();
  const state = await loopbackState({ apt: { available: [] }, resources: { 'registry-package': '/usr/bin/docker-registry' } });
  const out = await runAll(sim, DEPLOY, state);
  expect(out.unitStatus.status).toBe('active');
  expect(out.aptCalls).toEqual([]);
  const unitFile = fs.readFileSync(path.join(sim.rootDir, 'etc/systemd/system/offline-registry-public.service'), 'utf8');
  expect(unitFile).toContain(`ExecStart=${path.join(sim.rootDir, 'opt/offline-registry/bin/docker-registry')} serve`);
  expect((await fetch(`http://127.0.0.1:${portsOf(state).port}/v2/`)).status).toBe(200);

  // juju attach-resource registry-package=<new build>: upgrade-charm installs it and restarts both.
  const same = await sim.run('upgrade-charm', out);
  expect(same.thisRun.systemctlCalls).toEqual([]);
  const newBuild = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'new-registry-')), 'registry');
  fs.copyFileSync('/usr/bin/docker-registry', newBuild);
  const upgraded = await sim.run('upgrade-charm', { ...same, resources: { 'registry-package': newBuild } });
  expect(upgraded.thisRun.systemctlCalls).toEqual(expect.arrayContaining([
    ['systemctl', 'restart', 'offline-registry-public.service'],
    ['systemctl', 'restart', 'offline-registry-writer.service'],
  ]));
  expect(upgraded.unitStatus.status).toBe('active');
  fs.rmSync(path.dirname(newBuild), { recursive: true, force: true });
});

test('the registry-package resource may be the docker-registry .deb', async () => {
  const sim = await unit();
  const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'deb-'));
  try {
    fs.mkdirSync(path.join(pkg, 'root/DEBIAN'), { recursive: true });
    fs.mkdirSync(path.join(pkg, 'root/usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'root/DEBIAN/control'), 'Package: docker-registry\nVersion: 2.8.2+ds1-1\nArchitecture: amd64\nMaintainer: test <test@example.com>\nDescription: registry for the test\n');
    fs.copyFileSync('/usr/bin/docker-registry', path.join(pkg, 'root/usr/bin/docker-registry'));
    fs.chmodSync(path.join(pkg, 'root/usr/bin/docker-registry'), 0o755);
    execFileSync('dpkg-deb', ['--build', '--root-owner-group', '-Zgzip', '-z1', path.join(pkg, 'root'), path.join(pkg, 'docker-registry.deb')], { stdio: 'ignore' });
    const state = await loopbackState({ apt: { available: [] }, resources: { 'registry-package': path.join(pkg, 'docker-registry.deb') } });
    const out = await runAll(sim, DEPLOY, state);
    expect(out.unitStatus.status).toBe('active');
    const unitFile = fs.readFileSync(path.join(sim.rootDir, 'etc/systemd/system/offline-registry-public.service'), 'utf8');
    expect(unitFile).toContain(`ExecStart=${path.join(sim.rootDir, 'opt/offline-registry/deb/usr/bin/docker-registry')} serve`);
    expect((await fetch(`http://127.0.0.1:${portsOf(state).port}/v2/`)).status).toBe(200);

    // Something else attached as the package blocks, naming the resource and what it should be.
    const junk = path.join(pkg, 'junk.bin');
    fs.writeFileSync(junk, 'not a package\n');
    const other = await unit();
    const bad = await other.run('install', await loopbackState({ apt: { available: [] }, resources: { 'registry-package': junk } }));
    expect(bad.unitStatus).toEqual({ status: 'blocked', message: 'registry-package resource junk.bin is neither a .deb nor an executable: attach the docker-registry .deb or a static registry binary' });
  } finally {
    fs.rmSync(pkg, { recursive: true, force: true });
  }
});

test.each([
  ['port', 0, /^invalid port 0: expected a TCP port from 1 to 65535$/],
  ['log-level', 'chatty', /^invalid log-level "chatty": expected one of error, warn, info, debug$/],
  ['http-host', 'https://x:1', /^invalid http-host/],
])('invalid %s blocks naming the option, without crashing', async (option, value, message) => {
  const sim = await unit();
  const out = await sim.run('config-changed', await loopbackState({ config: { [option]: value } }));
  expect(out.exitCode).toBe(0);
  expect(out.unitStatus.status).toBe('blocked');
  expect(out.unitStatus.message).toMatch(message);
});

test.each(['collect-metrics', 'pre-series-upgrade', 'registry-data-storage-detaching'])('a hook the charm does not handle (%s) is a no-op', async (hook) => {
  const sim = await unit();
  const storage = { id: 'registry-data/0', location: '/var/lib/offline-registry/data' };
  const out = await sim.run(hook, await loopbackState(), hook.includes('storage') ? { storage } : {});
  expect(out.exitCode).toBe(0);
  expect(out.thisRun).toEqual({ logs: [], statusHistory: [], systemctlCalls: [], aptCalls: [] });
  expect(fs.readdirSync(sim.rootDir)).toEqual([]);
});

test('update-status restarts a registry instance that died, and says so', async () => {
  const sim = await unit();
  const state = await runAll(sim, DEPLOY, await loopbackState());
  const { port } = portsOf(state);
  const pid = sim.unit('offline-registry-public')?.pid;
  expect(pid).toBeGreaterThan(0);
  process.kill(-pid!, 'SIGKILL');
  // Wait for the death itself (the port stops answering), not for a guessed time.
  await waitFor(() => fetch(`http://127.0.0.1:${port}/v2/`).then(() => false, () => true), 10000, 'the killed registry to stop answering');

  const out = await sim.run('update-status', state);
  expect(out.exitCode).toBe(0);
  expect(out.thisRun.systemctlCalls).toContainEqual(['systemctl', 'restart', 'offline-registry-public.service']);
  expect(out.unitStatus.status).toBe('active');
  expect(out.unitStatus.message).toMatch(/restarted the public registry/);
  expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);

  const calm = await sim.run('update-status', out);
  expect(calm.unitStatus.message).toEqual(servingPlain(0, port));
});

test('upgrade-charm keeps the registry data', async () => {
  const sim = await unit();
  const state = await runAll(sim, DEPLOY, await loopbackState());
  const { writerPort, port } = portsOf(state);
  const blob = Buffer.from('kept across upgrades');
  const digest = `sha256:${crypto.createHash('sha256').update(blob).digest('hex')}`;
  const start = await fetch(`http://127.0.0.1:${writerPort}/v2/keep/me/blobs/uploads/`, { method: 'POST' });
  const location = new URL(start.headers.get('location')!, `http://127.0.0.1:${writerPort}`);
  location.searchParams.set('digest', digest);
  expect((await fetch(location, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(201);

  const out = await runAll(sim, ['upgrade-charm', 'config-changed', 'start'], state);
  expect(out.unitStatus.status).toBe('active');
  const res = await fetch(`http://127.0.0.1:${port}/v2/keep/me/blobs/${digest}`);
  expect(res.status).toBe(200);
  expect(Buffer.from(await res.arrayBuffer()).equals(blob)).toBe(true);
});

test('stop stops both instances, start brings them back; remove forgets the units and keeps the data', async () => {
  const sim = await unit();
  const state = await runAll(sim, DEPLOY, await loopbackState());
  const { port, writerPort } = portsOf(state);
  const stopped = await sim.run('stop', state);
  expect(stopped.exitCode).toBe(0);
  expect(stopped.thisRun.systemctlCalls).toEqual([
    ['systemctl', 'stop', 'offline-registry-public.service'],
    ['systemctl', 'stop', 'offline-registry-writer.service'],
  ]);
  await expect(fetch(`http://127.0.0.1:${port}/v2/`)).rejects.toThrow();
  await expect(fetch(`http://127.0.0.1:${writerPort}/v2/`)).rejects.toThrow();

  const started = await sim.run('start', stopped);
  expect(started.unitStatus).toEqual({ status: 'active', message: servingPlain(0, port) });
  expect((await fetch(`http://127.0.0.1:${port}/v2/`)).status).toBe(200);

  const removed = await runAll(sim, ['stop', 'remove'], started);
  expect(removed.thisRun.systemctlCalls).toEqual(expect.arrayContaining([['systemctl', 'disable', 'offline-registry-public.service'], ['systemctl', 'disable', 'offline-registry-writer.service']]));
  expect(fs.existsSync(path.join(sim.rootDir, 'etc/systemd/system/offline-registry-public.service'))).toBe(false);
  expect(fs.existsSync(path.join(sim.rootDir, 'var/lib/offline-registry/data'))).toBe(true);
  await expect(fetch(`http://127.0.0.1:${port}/v2/`)).rejects.toThrow();
});
