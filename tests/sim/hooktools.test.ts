// The simulated hook tools against a throwaway charm: formats, exit codes and error texts of
// Juju 3's jujuc commands.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SIM_BIN_DIR, Simulator, type State } from '../harness/index.js';
import { makeFakeCharm, type FakeCharm } from './fake-charm.js';

let charm: FakeCharm;
let sim: Simulator;
let scratch: string;

beforeAll(async () => {
  charm = makeFakeCharm();
  sim = await Simulator.create({ charmDir: charm.dir, timeoutMs: 20000 });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sim-test-'));
});

afterAll(async () => {
  await sim.cleanup();
  charm.remove();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const registryRelation = (extra: Partial<NonNullable<State['relations']>[number]> = {}) => ({
  id: 3,
  endpoint: 'docker-registry',
  remoteApp: 'containerd',
  remoteUnits: ['containerd/0', 'containerd/1'],
  remoteUnitsData: { 'containerd/0': { 'ingress-address': '10.0.0.20' } },
  remoteAppData: { sandbox: 'yes' },
  ...extra,
});

/** Runs body as the install hook and returns the run. */
async function hook(body: string, state: State = {}, event = 'install') {
  charm.setHook(body);
  return sim.run(event, state);
}

describe('config-get', () => {
  test('prints typed JSON of defaults merged with user values, omitting options without a value', async () => {
    const out = await hook('config-get --format=json', { config: { port: 6000, 'read-only': 'true' } });
    expect(out.exitCode).toBe(0);
    // Go marshals maps with sorted keys.
    expect(out.stdout).toBe('{"gc-ratio":0.5,"hostname":"","port":6000,"read-only":true}\n');
  });

  test('a single key prints its value; an unknown key prints null; --format json also works', async () => {
    const out = await hook('config-get --format json port; config-get --format=json no-such-key; config-get read-only; config-get --format=json tls-cert');
    expect(out.stdout).toBe('5000\nnull\nFalse\nnull\n');
  });

  test('--all includes options without a value as null', async () => {
    const out = await hook('config-get --all --format=json');
    expect(JSON.parse(out.stdout)).toHaveProperty('tls-cert', null);
  });

  test('the harness rejects config the controller would reject', async () => {
    await expect(sim.run('config-changed', { config: { port: 'abc' } })).rejects.toThrow(/port.*int/);
    await expect(sim.run('config-changed', { config: { nope: 'x' } })).rejects.toThrow(/"nope" is not in config.yaml/);
  });
});

describe('resource-get', () => {
  test('prints the absolute path without a trailing newline', async () => {
    const file = path.join(scratch, 'images.tar');
    fs.writeFileSync(file, 'x');
    const out = await hook('resource-get images', { resources: { images: file } });
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toBe(file);
  });

  test('a resource the operator never supplied exits 1 with Juju\'s error', async () => {
    const out = await hook('resource-get images; echo "rc=$?"');
    expect(out.stdout).toBe('rc=1\n');
    expect(out.stderr).toBe('ERROR could not download resource: resource#offline-registry/images not found\n');
  });
});

describe('relations', () => {
  test('relation-ids and relation-list name the relation and its remote units or app', async () => {
    const out = await hook(
      'relation-ids docker-registry --format=json; relation-list -r docker-registry:3 --format=json; relation-list -r 3 --app --format=json',
      { relations: [registryRelation()] },
    );
    expect(out.stdout.split('\n')).toEqual(['["docker-registry:3"]', '["containerd/0","containerd/1"]', '"containerd"', '']);
  });

  test('relation-set then relation-get round-trips own unit data; an empty value deletes a key', async () => {
    const out = await hook(
      [
        'relation-set -r docker-registry:3 url=http://10.0.0.7:5000 keep=1 gone=x',
        'relation-set -r docker-registry:3 gone=',
        'relation-get --format=json -r docker-registry:3 - offline-registry/0',
        'relation-get --format=json -r docker-registry:3 url offline-registry/0',
        'relation-get --format=json -r docker-registry:3 missing offline-registry/0',
      ].join('\n'),
      { relations: [registryRelation()] },
    );
    expect(out.exitCode).toBe(0);
    expect(out.stdout.split('\n')).toEqual(['{"keep":"1","url":"http://10.0.0.7:5000"}', '"http://10.0.0.7:5000"', 'null', '']);
    expect(out.relations[0].localUnitData).toEqual({ url: 'http://10.0.0.7:5000', keep: '1' });
  });

  test('relation-set --file - reads a YAML map from stdin, overridden by key=value args', async () => {
    const out = await hook(`printf 'a: 1\\nb: two\\n' | relation-set -r 3 --file - b=three`, { relations: [registryRelation()] });
    expect(out.stderr).toBe('');
    expect(out.relations[0].localUnitData).toEqual({ a: '1', b: 'three' });
  });

  test('relation-get reads remote unit and remote app bags', async () => {
    const out = await hook(
      'relation-get --format=json -r 3 - containerd/0; relation-get --format=json -r 3 --app - containerd',
      { relations: [registryRelation()] },
    );
    expect(out.stdout).toBe('{"ingress-address":"10.0.0.20"}\n{"sandbox":"yes"}\n');
  });

  test('only the leader may write or read its own app bag', async () => {
    const body = 'relation-set -r 3 --app registry=r; echo "set=$?"; relation-get --format=json -r 3 --app - offline-registry; echo "get=$?"';
    const follower = await hook(body, { relations: [registryRelation()] });
    expect(follower.stdout).toBe('set=1\nget=1\n');
    expect(follower.stderr).toMatch(/^ERROR cannot write relation settings: permission denied.*\nERROR permission denied\n$/);
    expect(follower.relations[0].localAppData).toEqual({});

    const leader = await hook(body, { leader: true, relations: [registryRelation()] });
    expect(leader.stdout).toBe('set=0\n{"registry":"r"}\nget=0\n');
    expect(leader.relations[0].localAppData).toEqual({ registry: 'r' });
  });

  test('relation hooks default -r and the remote unit from the hook context', async () => {
    charm.setHook('echo "$JUJU_RELATION $JUJU_RELATION_ID $JUJU_REMOTE_UNIT $JUJU_REMOTE_APP"; relation-get --format=json; relation-set x=y');
    const out = await sim.run('docker-registry-relation-changed', { relations: [registryRelation()] }, { remoteUnit: 'containerd/0' });
    expect(out.stdout).toBe('docker-registry docker-registry:3 containerd/0 containerd\n{"ingress-address":"10.0.0.20"}\n');
    expect(out.relations[0].localUnitData).toEqual({ x: 'y' });
  });

  test('-departed hides the departing unit from relation-list and forgets it afterwards', async () => {
    charm.setHook('echo "$JUJU_DEPARTING_UNIT"; relation-list --format=json; relation-get --format=json - containerd/1');
    const state = { relations: [registryRelation({ remoteUnitsData: { 'containerd/1': { a: 'b' } } })] };
    const out = await sim.run('docker-registry-relation-departed', state, { remoteUnit: 'containerd/1' });
    expect(out.stdout).toBe('containerd/1\n["containerd/0"]\n{"a":"b"}\n');
    expect(out.relations[0].remoteUnits).toEqual(['containerd/0']);
    expect(out.relations[0].remoteUnitsData).not.toHaveProperty('containerd/1');
  });

  test('-broken still lists the relation during the hook and removes it after', async () => {
    charm.setHook('echo "[$JUJU_REMOTE_UNIT]"; relation-ids docker-registry --format=json; relation-list --format=json');
    const out = await sim.run('docker-registry-relation-broken', { relations: [registryRelation()] });
    expect(out.stdout).toBe('[]\n["docker-registry:3"]\n[]\n');
    expect(out.relations).toEqual([]);
  });

  test('an unknown relation id is a usage error (exit 2)', async () => {
    const out = await hook('relation-list -r docker-registry:9; echo "rc=$?"; relation-list -r nope; echo "rc=$?"', { relations: [registryRelation()] });
    expect(out.stdout).toBe('rc=2\nrc=2\n');
    expect(out.stderr).toContain('ERROR invalid value "docker-registry:9" for option -r: unknown relation id');
    expect(out.stderr).toContain('ERROR invalid value "nope" for option -r: invalid relation id');
  });
});

describe('actions', () => {
  test('action-get fills defaults from actions.yaml; JUJU_HOOK_NAME is empty for actions', async () => {
    charm.setHook('echo "[$JUJU_HOOK_NAME] $JUJU_DISPATCH_PATH $JUJU_ACTION_NAME"; action-get --format=json; action-get --format=json limit; action-get prefix');
    const out = await sim.run({ action: 'load-images', params: { limit: 3 } });
    expect(out.stdout.split('\n')).toEqual([
      '[] actions/load-images load-images',
      '{"dry-run":false,"limit":3,"prefix":"library"}',
      '3',
      'library',
      '',
    ]);
    expect(out.action?.status).toBe('completed');
  });

  test('the harness refuses params the controller would refuse', async () => {
    await expect(sim.run({ action: 'load-images', params: { bogus: 1 } })).rejects.toThrow(/additional property "bogus"/);
    await expect(sim.run({ action: 'load-images', params: { limit: 'x' } })).rejects.toThrow(/limit.*integer/);
    await expect(sim.run({ action: 'nope' })).rejects.toThrow(/not defined in actions.yaml/);
  });

  test('action-set builds nested results from dotted keys and rejects reserved or invalid keys', async () => {
    charm.setHook([
      'action-set outfile.size=10G foo.bar.zab=4 foo.baz=1 count=2',
      'action-set stdout=x; echo "reserved=$?"',
      'action-set Bad=1; echo "bad=$?"',
      'action-log -- "-50% done"',
    ].join('\n'));
    const out = await sim.run({ action: 'list-images' });
    expect(out.stdout).toBe('reserved=1\nbad=2\n');
    expect(out.stderr).toContain('ERROR cannot set reserved action key "stdout"');
    expect(out.stderr).toContain('ERROR key "Bad" must start and end with lowercase alphanumeric');
    expect(out.action?.results).toEqual({ outfile: { size: '10G' }, foo: { bar: { zab: '4' }, baz: '1' }, count: '2' });
    expect(out.action?.logs).toEqual(['-50% done']);
  });

  test('action-fail marks the action failed with its message while dispatch exits 0', async () => {
    charm.setHook('action-fail -- "no archive"');
    const out = await sim.run({ action: 'list-images' });
    expect(out.exitCode).toBe(0);
    expect(out.action).toMatchObject({ status: 'failed', message: 'no archive' });
  });

  test('action tools outside an action fail like Juju', async () => {
    const out = await hook('action-get; action-set a=b; action-log x; action-fail');
    expect(out.stderr).toBe('ERROR not running an action\n'.repeat(4));
  });
});

describe('status, logs, ports, state', () => {
  test('status-set validates the status and only the leader may set application status', async () => {
    const out = await hook([
      'status-set bogus x; echo "bogus=$?"',
      'status-set --application active; echo "app=$?"',
      'status-set maintenance -- "-installing"',
      'status-set active',
      'status-get --format=json --include-data',
    ].join('\n'));
    expect(out.stdout).toBe('bogus=2\napp=1\n{"message":"","status":"active","status-data":{}}\n');
    expect(out.stderr).toContain('ERROR invalid status "bogus", expected one of [maintenance blocked waiting active]');
    expect(out.statusHistory).toEqual([
      { target: 'unit', status: 'maintenance', message: '-installing' },
      { target: 'unit', status: 'active', message: '' },
    ]);
    expect(out.unitStatus).toEqual({ status: 'active', message: '' });
  });

  test('juju-log records levels; application-version-set sets the workload version', async () => {
    const out = await hook('juju-log -- plain; juju-log -l WARNING -- careful; juju-log --log-level=DEBUG a b; application-version-set -- 2.8.2');
    expect(out.logs).toEqual([
      { level: 'INFO', message: 'plain' },
      { level: 'WARNING', message: 'careful' },
      { level: 'DEBUG', message: 'a b' },
    ]);
    expect(out.workloadVersion).toBe('2.8.2');
  });

  test('open-port/close-port/opened-ports use Juju\'s port forms', async () => {
    const out = await hook('open-port 5000/tcp; open-port 6000; open-port 7000-7010/udp; open-port icmp; close-port 6000/tcp; opened-ports --format=json; open-port 70000; echo "rc=$?"');
    expect(out.stdout).toBe('["5000/tcp","7000-7010/udp","icmp"]\nrc=2\n');
    expect(out.openedPorts).toEqual(['5000/tcp', '7000-7010/udp', 'icmp']);
  });

  test('state-get/state-set/state-delete keep a map of strings', async () => {
    const out = await hook("state-set a=1 b=2; printf 'c: three\\n' | state-set --file -; state-delete b; state-get --format=json; state-get --format=json a; state-get --format=json zz");
    expect(out.stdout).toBe('{"a":"1","c":"three"}\n"1"\n""\n');
    expect(out.unitState).toEqual({ a: '1', c: 'three' });
  });

  test('leader-set is for the leader only; leader-get reads the settings', async () => {
    const follower = await hook('leader-set a=b; echo "rc=$?"');
    expect(follower.stdout).toBe('rc=1\n');
    expect(follower.stderr).toContain('not the leader');
    const leader = await hook('leader-set a=b; leader-get --format=json; leader-get a', { leader: true });
    expect(leader.stdout).toBe('{"a":"b"}\nb\n');
    expect(leader.leaderData).toEqual({ a: 'b' });
  });

  test('unknown flags are usage errors with exit 2', async () => {
    const out = await hook('config-get --nope; echo "rc=$?"; is-leader --format=xml; echo "rc=$?"');
    expect(out.stdout).toBe('rc=2\nrc=2\n');
    expect(out.stderr).toContain('ERROR option provided but not defined: --nope');
  });
});

describe('a failed hook', () => {
  test('discards relation, state, port and secret changes but keeps status and logs', async () => {
    const out = await hook(
      [
        'status-set maintenance -- working',
        'juju-log -- started',
        'relation-set -r 3 url=http://x',
        'state-set k=v',
        'open-port 5000/tcp',
        'secret-add --owner unit password=hunter22 >/dev/null',
        'application-version-set 1.0',
        'exit 1',
      ].join('\n'),
      { relations: [registryRelation()], unitState: { old: 'kept' } },
    );
    expect(out.exitCode).toBe(1);
    expect(out.statusHistory).toEqual([{ target: 'unit', status: 'maintenance', message: 'working' }]);
    expect(out.logs).toEqual([{ level: 'INFO', message: 'started' }]);
    expect(out.workloadVersion).toBe('1.0');
    expect(out.relations[0].localUnitData).toEqual({});
    expect(out.unitState).toEqual({ old: 'kept' });
    expect(out.openedPorts).toEqual([]);
    expect(out.secrets).toEqual([]);
  });

  test('the output state chains into the next run', async () => {
    const first = await hook('state-set n=1; juju-log one', {});
    const second = await hook('state-get --format=json n; juju-log two', first);
    expect(second.stdout).toBe('"1"\n');
    expect(second.logs.map((l) => l.message)).toEqual(['one', 'two']);
    expect(second.thisRun.logs).toEqual([{ level: 'INFO', message: 'two' }]);
  });
});

describe('network', () => {
  test('network-get prints Juju\'s full JSON form and the single-address forms', async () => {
    const out = await hook(
      'network-get --format=json docker-registry; network-get --format=json docker-registry --ingress-address; network-get docker-registry --bind-address; network-get nope; echo "rc=$?"; unit-get private-address',
      { addresses: { ingress: '10.0.0.7' } },
    );
    const lines = out.stdout.split('\n');
    // Field order of Juju's NetworkInfoResult struct, not sorted like a map.
    expect(lines[0]).toBe(
      '{"bind-addresses":[{"mac-address":"","interface-name":"eth0","addresses":[{"hostname":"","value":"10.0.0.7","cidr":"10.0.0.0/24"}],' +
        '"macaddress":"","interfacename":"eth0"}],"egress-subnets":["10.0.0.7/32"],"ingress-addresses":["10.0.0.7"]}',
    );
    expect(lines.slice(1)).toEqual(['"10.0.0.7"', '10.0.0.7', 'rc=1', '10.0.0.7', '']);
    expect(out.stderr).toBe('ERROR no network config found for binding "nope"\n');
  });
});

describe('secrets', () => {
  test('secret-add prints a Juju 3 URI; secret-get, secret-set, secret-grant and secret-ids work on it', async () => {
    const out = await hook(
      [
        'uri=$(secret-add --label creds password=hunter22 user=admin)',
        'echo "$uri"',
        'secret-get --format=json "$uri"',
        'secret-set "$uri" password=newpass',
        'secret-get --format=json --label creds',
        'secret-grant "$uri" -r docker-registry:3 --unit containerd/0',
        'secret-ids --format=json',
        'secret-get secret:0123456789abcdefghij; echo "rc=$?"',
      ].join('\n'),
      { leader: true, relations: [registryRelation()] },
    );
    const lines = out.stdout.split('\n');
    expect(lines[0]).toMatch(/^secret:[0-9a-v]{20}$/);
    const id = lines[0].slice('secret:'.length);
    expect(JSON.parse(lines[1])).toEqual({ password: 'hunter22', user: 'admin' });
    expect(JSON.parse(lines[2])).toEqual({ password: 'newpass' });
    expect(JSON.parse(lines[3])).toEqual([lines[0]]);
    expect(lines[4]).toBe('rc=1');
    expect(out.stderr).toBe('ERROR secret "0123456789abcdefghij" not found\n');
    expect(out.secrets).toEqual([
      {
        id,
        owner: 'application',
        label: 'creds',
        revisions: [{ password: 'hunter22', user: 'admin' }, { password: 'newpass' }],
        grants: [{ relationId: 3, unit: 'containerd/0' }],
      },
    ]);
  });

  test('application-owned secrets need the leader; consumed secrets track a revision until --refresh', async () => {
    const remote = { id: 'secret://d2f6c5f0-5b0e-4c1e-8a35-3f1e6d1b2a90/cabcdefghij0123456uv', owner: 'remote' as const, revisions: [{ token: 'one' }, { token: 'two' }], trackedRevision: 1 };
    const out = await hook(
      'secret-add token=abc; echo "rc=$?"; secret-get cabcdefghij0123456uv token; secret-get --peek cabcdefghij0123456uv token; secret-get --refresh secret:cabcdefghij0123456uv token',
      { secrets: [remote] },
    );
    expect(out.stdout).toBe('rc=1\none\ntwo\ntwo\n');
    expect(out.secrets[0].trackedRevision).toBe(2);
  });
});

describe('environment', () => {
  test('is built from scratch: no HOME or USER, hook tools first on PATH', async () => {
    const out = await hook('echo "HOME=${HOME:-unset} USER=${USER:-unset}"; command -v relation-get; command -v systemctl; echo "$JUJU_VERSION"');
    expect(out.stdout.split('\n')).toEqual([
      'HOME=unset USER=unset',
      path.join(SIM_BIN_DIR, 'relation-get'),
      path.join(SIM_BIN_DIR, 'systemctl'),
      '3.6.1',
      '',
    ]);
  });

  test('tools run concurrently by the charm lose no update', async () => {
    const out = await hook('for i in 1 2 3 4 5 6 7 8; do juju-log "n$i" & state-set "k$i=v" & done; wait');
    expect(out.exitCode).toBe(0);
    expect(out.logs.map((l) => l.message).sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8']);
    expect(Object.keys(out.unitState).sort()).toEqual(['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8']);
  });

  test('a tool called after its hook ended is refused', async () => {
    await hook('true');
    const r = spawnSync('sh', ['-c', 'juju-log late; echo "rc=$?"'], {
      env: { PATH: `${SIM_BIN_DIR}:/usr/bin:/bin`, JUJU_SIM_DIR: sim.simDir, JUJU_CONTEXT_ID: 'old-context' },
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('rc=1\n');
    expect(r.stderr).toMatch(/^ERROR bad request: unknown context "old-context"/);
  });

  test('a hook that outlives the timeout is killed and counts as failed', async () => {
    const quick = await Simulator.create({ charmDir: charm.dir, timeoutMs: 500 });
    try {
      charm.setHook('state-set a=b; sleep 10');
      const out = await quick.run('install');
      expect(out.timedOut).toBe(true);
      expect(out.exitCode).not.toBe(0);
      expect(out.unitState).toEqual({});
      // Killed, not waited for: the hook would have run for 10 s.
      expect(out.durationMs).toBeLessThan(10_000);
    } finally {
      await quick.cleanup();
    }
  });
});
