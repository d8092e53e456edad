// A real S3 service for tests: Ceph's radosgw (Debian `radosgw`) on a throwaway single-node Ceph
// (one monitor, one in-memory OSD, no auth inside the cluster) in a temp dir, every daemon in the
// foreground on 127.0.0.1, stopped by pid. It speaks the S3 API the registry's s3 driver needs,
// multipart uploads included.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitFor } from './ports.js';

export interface Radosgw {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Creates a bucket (S3 PUT Bucket, signed by curl's SigV4). */
  createBucket(name: string): void;
  /** Stops the S3 gateway only (an S3 outage): the cluster and the objects in it stay. */
  stopGateway(): Promise<void>;
  /** Starts the gateway again on the same endpoint; resolves once it answers. */
  startGateway(): Promise<void>;
  stop(): Promise<void>;
}

export function haveRadosgw(): boolean {
  return ['radosgw', 'ceph-mon', 'ceph-osd', 'ceph', 'monmaptool', 'radosgw-admin', 'curl'].every((bin) => fs.existsSync(`/usr/bin/${bin}`));
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/**
 * Ceph 16's librados clients (the `ceph` CLI, radosgw, the OSD at start) fetch the monitor's map
 * twice on connect; the second initial map has a zero fsid, and a command sent before the
 * monitor's own map arrives is refused: `EPERM: problem getting command descriptions from mon`,
 * the monitor logging `handle_command on fsid 00000000-... != <fsid>` (seen with --debug-monc=20;
 * about one boot in fifteen on a loaded machine). The refusal comes before the command runs, so
 * running it again is safe: every command here is idempotent.
 */
const ZERO_FSID_RACE = /wrong fsid|problem getting command descriptions from mon/;
const ZERO_FSID_ATTEMPTS = 5;

export async function startRadosgw(): Promise<Radosgw> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radosgw-'));
  const monPort = await freePort();
  const rgwPort = await freePort();
  const fsid = crypto.randomUUID();
  const conf = path.join(dir, 'ceph.conf');
  fs.writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon host = 127.0.0.1:${monPort}
mon initial members = a
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd objectstore = memstore
# the OSD's own crush commands at start meet the zero-fsid race and it exits: the test adds it
osd crush update on start = false
osd class update on start = false
memstore device bytes = 536870912
osd crush chooseleaf type = 0
run dir = ${dir}/run
log file = ${dir}/log/$name.log
admin socket = ${dir}/run/$name.asok
mon data = ${dir}/mon/$cluster-$id
osd data = ${dir}/osd/$cluster-$id
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
`,
  );
  for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const daemons: ChildProcess[] = [];
  let gateway: ChildProcess | undefined;
  const run = (bin: string, args: string[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return execFileSync(bin, ['-c', conf, ...args], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        if (attempt >= ZERO_FSID_ATTEMPTS || !ZERO_FSID_RACE.test(String((err as { stderr?: string }).stderr ?? ''))) throw err;
      }
    }
  };
  const daemon = (bin: string, args: string[]) => {
    const child = spawn(bin, ['-c', conf, '-f', ...args], { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'log', `${path.basename(bin)}.err`), 'a')] });
    daemons.push(child);
    return child;
  };
  const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
  const end = async (child: ChildProcess) => {
    if (exited(child)) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  };
  const stop = async () => {
    for (const child of [...daemons].reverse()) await end(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  const gatewayLog = () => ['radosgw.err', 'client.rgw.log'].map((f) => path.join(dir, 'log', f)).filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  const startGateway = async () => {
    // radosgw creates its pools with monitor commands: on the zero-fsid race it exits, and is started again
    for (let attempt = 1; ; attempt++) {
      const logBefore = gatewayLog().length;
      const child = daemon('radosgw', ['-n', 'client.rgw']);
      gateway = child;
      await waitFor(async () => exited(child) || (await fetch(endpoint)).ok, 90000, 'radosgw to answer');
      if (!exited(child)) return;
      const log = gatewayLog().slice(logBefore);
      if (attempt >= ZERO_FSID_ATTEMPTS || !ZERO_FSID_RACE.test(log)) throw new Error(`radosgw exited before answering:\n${log.split('\n').slice(-8).join('\n')}`);
    }
  };
  const stopGateway = async () => {
    if (gateway) await end(gateway);
  };
  try {
    execFileSync('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', `[v1:127.0.0.1:${monPort}]`, path.join(dir, 'monmap')], { stdio: 'ignore', timeout: 30000 });
    run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', path.join(dir, 'monmap')]);
    daemon('ceph-mon', ['-i', 'a']);
    const osdUuid = crypto.randomUUID();
    const id = run('ceph', ['--connect-timeout', '30', 'osd', 'create', osdUuid]).trim();
    run('ceph-osd', ['-i', id, '--mkfs', '--osd-uuid', osdUuid]);
    const osd = daemon('ceph-osd', ['-i', id]);
    run('ceph', ['osd', 'crush', 'add', `osd.${id}`, '1.0', 'host=localhost', 'root=default']);
    await waitFor(async () => exited(osd) || /1 up/.test(run('ceph', ['osd', 'stat'])), 60000, 'the OSD to be up');
    if (exited(osd)) throw new Error('ceph-osd exited before it was up');
    await startGateway();
    const accessKey = 'OFFLINEREGISTRYTEST';
    const secretKey = crypto.randomBytes(20).toString('hex');
    run('radosgw-admin', ['user', 'create', '--uid=offline-registry', '--display-name=offline-registry', `--access-key=${accessKey}`, `--secret=${secretKey}`]);
    const createBucket = (name: string) => {
      const code = execFileSync('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'PUT', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${accessKey}:${secretKey}`, '-H', `x-amz-content-sha256: ${EMPTY_SHA256}`, `${endpoint}/${name}`], { encoding: 'utf8', timeout: 30000 });
      if (code !== '200') throw new Error(`radosgw: creating bucket ${name} answered ${code}`);
    };
    return { endpoint, accessKey, secretKey, createBucket, stopGateway, startGateway, stop };
  } catch (err) {
    const logs = fs.readdirSync(path.join(dir, 'log')).map((f) => `${f}: ${fs.readFileSync(path.join(dir, 'log', f), 'utf8').split('\n').slice(-8).join('\n')}`);
    await stop();
    throw new Error(`${(err as Error).message}\n${logs.join('\n')}`);
  }
}
