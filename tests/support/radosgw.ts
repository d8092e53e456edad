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
 * Held by one test process at a time while its cluster boots, from picking its ports to the
 * gateway answering. Two clusters booting at once (jest runs the s3 test files in parallel
 * workers) were seen to talk to each other's monitor ('wrong fsid', EPERM): a port one picked and
 * released was taken by the other's monitor before its own bound it. A directory is created
 * atomically; one left by a process that died is taken over.
 */
async function withBootLock<T>(fn: () => Promise<T>): Promise<T> {
  const lock = path.join(os.tmpdir(), 'offline-registry-tests-ceph-boot.lock');
  const owner = path.join(lock, 'pid');
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(owner, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(fs.readFileSync(owner, { encoding: 'utf8', flag: 'a+' }) || 0);
      let alive = true;
      try {
        if (pid) process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (pid && !alive) fs.rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 100)); // the holder's cluster is booting: its end is the event
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

export async function startRadosgw(): Promise<Radosgw> {
  return withBootLock(bootRadosgw);
}

async function bootRadosgw(): Promise<Radosgw> {
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
  const run = (bin: string, args: string[]) => execFileSync(bin, ['-c', conf, ...args], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
  const daemon = (bin: string, args: string[]) => {
    const child = spawn(bin, ['-c', conf, '-f', ...args], { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'log', `${path.basename(bin)}.err`), 'a')] });
    daemons.push(child);
    return child;
  };
  const end = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  const stop = async () => {
    for (const child of [...daemons].reverse()) await end(child);
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const endpoint = `http://127.0.0.1:${rgwPort}`;
  const answers = async () => (await fetch(endpoint)).ok;
  const startGateway = async () => {
    gateway = daemon('radosgw', ['-n', 'client.rgw']);
    await waitFor(answers, 90000, 'radosgw to answer');
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
    daemon('ceph-osd', ['-i', id]);
    run('ceph', ['osd', 'crush', 'add', `osd.${id}`, '1.0', 'host=localhost', 'root=default']);
    await waitFor(async () => /1 up/.test(run('ceph', ['osd', 'stat'])), 60000, 'the OSD to be up');
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
