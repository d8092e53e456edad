// A throwaway real containerd 1.6 (Debian's, rootful) on a temp root/state/socket, to check that a
// registry really serves containerd: `ctr images pull` (hosts.toml path) and CRI PullImage (kubelet path).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { waitFor } from './ports.js';

export interface Containerd {
  socket: string;
  root: string;
  configPath: string;
  logs(): string;
  stop(): Promise<void>;
}

export interface StartContainerdOptions {
  /**
   * Extra TOML appended to the version 2 config, e.g. legacy CRI tables
   * `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."host:port"]`. It may add tables the base
   * config does not define; the base defines only the top-level keys, [grpc], [ttrpc], [debug],
   * [metrics], [plugins."io.containerd.grpc.v1.cri"], its .containerd and .cni subtables.
   */
  configToml?: string;
  /** Extra environment for containerd (and for ctrPull's ctr), e.g. SSL_CERT_FILE=<CA bundle>. */
  env?: Record<string, string>;
  /** name -> IP (or IPs, in order) seen by containerd (and ctrPull's ctr) only, through a private /etc/hosts bind mount. */
  hosts?: Record<string, string | string[]>;
  /** Startup bound in ms (socket + `ctr version`). */
  startTimeoutMs?: number;
  /**
   * Fail startup when the CRI plugin did not load (default true). containerd itself keeps running
   * when CRI rejects its config (e.g. `mirrors` with `config_path`), and kubelet would then only see
   * "unknown service runtime.v1.ImageService".
   */
  requireCri?: boolean;
}

interface Private {
  env: Record<string, string>;
  hostsFile?: string;
  tmp: string;
}
const privates = new WeakMap<Containerd, Private>();

const LOG_TAIL = 256 * 1024;

// Plugins an image pull never needs; disabling them keeps containerd off the machine's /opt and
// away from kernel features a sandbox may lack.
const DISABLED_PLUGINS = [
  'io.containerd.internal.v1.opt',
  'io.containerd.snapshotter.v1.aufs',
  'io.containerd.snapshotter.v1.btrfs',
  'io.containerd.snapshotter.v1.devmapper',
  'io.containerd.snapshotter.v1.zfs',
  'io.containerd.snapshotter.v1.overlayfs',
  'io.containerd.tracing.processor.v1.otlp',
  'io.containerd.internal.v1.tracing',
];

/** The version 2 config for a containerd living entirely under `tmp`. Pure, so it is unit-tested. */
export function containerdConfig(tmp: string, extraToml = ''): string {
  const q = (s: string) => JSON.stringify(s); // a JSON string is a valid TOML basic string for paths
  return [
    'version = 2',
    `root = ${q(path.join(tmp, 'root'))}`,
    `state = ${q(path.join(tmp, 'state'))}`,
    `disabled_plugins = [${DISABLED_PLUGINS.map(q).join(', ')}]`,
    '',
    '[grpc]',
    `  address = ${q(path.join(tmp, 'containerd.sock'))}`,
    '[ttrpc]',
    `  address = ${q(path.join(tmp, 'containerd.sock.ttrpc'))}`,
    '[debug]',
    '  address = ""',
    '  level = "debug"', // the resolver logs every registry URL it tries at debug level
    '[metrics]',
    '  address = ""',
    '',
    '[plugins."io.containerd.grpc.v1.cri"]',
    '  disable_tcp_service = true',
    // CRI insists on a streaming server; keep it on loopback with an OS-chosen port.
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    '  enable_selinux = false',
    '  snapshotter = "native"',
    '  [plugins."io.containerd.grpc.v1.cri".containerd]',
    '    snapshotter = "native"',
    // Empty dirs of our own: CRI logs that no network is configured and still serves images.
    '  [plugins."io.containerd.grpc.v1.cri".cni]',
    `    bin_dir = ${q(path.join(tmp, 'cni', 'bin'))}`,
    `    conf_dir = ${q(path.join(tmp, 'cni', 'conf'))}`,
    '',
    extraToml,
    '',
  ].join('\n');
}

/** /etc/hosts content: the machine's own lines (so localhost still resolves) plus `hosts`. */
export function hostsFileContent(base: string, hosts: Record<string, string | string[]>): string {
  const lines = Object.entries(hosts).flatMap(([name, ips]) => {
    if (!/^[A-Za-z0-9.-]+$/.test(name)) throw new Error(`invalid host name ${JSON.stringify(name)} for the test /etc/hosts`);
    return (Array.isArray(ips) ? ips : [ips]).map((ip) => `${ip} ${name}`);
  });
  return `${base.replace(/\n*$/, '\n')}${lines.join('\n')}\n`;
}

/**
 * argv that runs `argv` with `hostsFile` bind-mounted over /etc/hosts in a private mount namespace
 * (util-linux unshare makes mounts private, so the machine's /etc/hosts is untouched). Needs root.
 */
function withPrivateHosts(hostsFile: string | undefined, argv: string[]): string[] {
  if (!hostsFile) return argv;
  return ['unshare', '-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hostsFile, ...argv];
}

export async function startContainerd(opts: StartContainerdOptions = {}): Promise<Containerd> {
  // Short prefix: a unix socket path must stay under 108 bytes.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ctrd-'));
  for (const d of ['root', 'state', 'cni/bin', 'cni/conf']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  const configPath = path.join(tmp, 'config.toml');
  // 0600: extra TOML may carry registry credentials.
  fs.writeFileSync(configPath, containerdConfig(tmp, opts.configToml), { mode: 0o600 });
  const socket = path.join(tmp, 'containerd.sock');
  let hostsFile: string | undefined;
  if (opts.hosts && Object.keys(opts.hosts).length > 0) {
    hostsFile = path.join(tmp, 'hosts');
    fs.writeFileSync(hostsFile, hostsFileContent(fs.readFileSync('/etc/hosts', 'utf8'), opts.hosts));
  }
  const env = { ...opts.env };
  const argv = withPrivateHosts(hostsFile, ['containerd', '--config', configPath]);

  let logText = '';
  const child: ChildProcess = spawn(argv[0], argv.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const onData = (d: Buffer) => {
    logText += d.toString();
    if (logText.length > LOG_TAIL * 2) logText = logText.slice(-LOG_TAIL);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = child.exitCode !== null;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.once('error', (err) => onData(Buffer.from(`spawn ${argv[0]} failed: ${err.message}\n`)));
  // A crashed test run must not leave a daemon behind.
  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  let stopped = false;
  const c: Containerd = {
    socket,
    root: path.join(tmp, 'root'),
    configPath,
    logs: () => logText,
    async stop() {
      if (stopped) return;
      stopped = true;
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      process.removeListener('exit', killOnExit);
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  privates.set(c, { env, hostsFile, tmp });

  try {
    await waitFor(
      async () => {
        if (exited) return true; // reported below; waitFor would swallow a throw and keep polling
        if (!fs.existsSync(socket)) return false;
        const r = await execa('ctr', ['--address', socket, 'version'], { reject: false, timeout: 5000 });
        return r.exitCode === 0;
      },
      opts.startTimeoutMs ?? 20000,
      `containerd on ${socket}`,
    );
    if (exited) throw new Error(`containerd exited during startup (${argv.join(' ')}); is it installed and are we root?`);
    if (opts.requireCri ?? true) await assertCriLoaded(socket, () => logText);
  } catch (err) {
    const tail = logText.slice(-4000);
    await c.stop();
    throw new Error(`containerd did not start: ${(err as Error).message}\n--- containerd log tail ---\n${tail}`);
  }
  return c;
}

async function assertCriLoaded(socket: string, logs: () => string): Promise<void> {
  const r = await execa('ctr', ['--address', socket, 'plugins', 'ls'], { reject: false, timeout: 10000 });
  const line = r.stdout.split('\n').find((l) => /^io\.containerd\.grpc\.v1\s+cri\s/.test(l));
  if (line && /\sok\s*$/.test(line)) return;
  const why = logs()
    .split('\n')
    .filter((l) => l.includes('io.containerd.grpc.v1.cri') && /level=(warning|error|fatal)/.test(l))
    .join('\n');
  throw new Error(`the CRI plugin did not load (${line?.trim() ?? 'not listed'}); fix the CRI config:\n${why}`);
}

export interface CtrPullOptions {
  hostsDir?: string;
  /** user:password. ctr takes credentials only on its command line: acceptable in tests, never in production code. */
  user?: string;
  plainHttp?: boolean;
  platform?: string;
  timeoutMs?: number;
}

/** `ctr images pull` against `c`; ctr resolves and fetches in its own process, so it gets c's env and hosts. */
export async function ctrPull(c: Containerd, ref: string, opts: CtrPullOptions = {}): Promise<{ ok: boolean; output: string }> {
  const priv = privates.get(c);
  if (!priv) throw new Error('ctrPull needs a Containerd returned by startContainerd()');
  const args = ['ctr', '--address', c.socket, 'images', 'pull', '--snapshotter', 'native'];
  if (opts.hostsDir) args.push('--hosts-dir', opts.hostsDir);
  if (opts.user) args.push('--user', opts.user);
  if (opts.plainHttp) args.push('--plain-http');
  if (opts.platform) args.push('--platform', opts.platform);
  args.push(ref);
  const argv = withPrivateHosts(priv.hostsFile, args);
  const r = await execa(argv[0], argv.slice(1), {
    reject: false,
    all: true,
    timeout: opts.timeoutMs ?? 60000,
    env: priv.env,
    stdin: 'ignore',
  });
  let output = r.all ?? '';
  if (r.timedOut) output += `\nctr pull timed out after ${opts.timeoutMs ?? 60000} ms`;
  if (opts.user) output = output.split(opts.user).join('<user:password>');
  return { ok: r.exitCode === 0, output };
}

interface ImageServiceClient extends grpc.Client {
  PullImage(req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: { image_ref: string }) => void): void;
  ImageStatus(
    req: unknown,
    md: grpc.Metadata,
    o: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null, res?: { image?: { id: string; repo_tags: string[]; repo_digests: string[] } | null }) => void,
  ): void;
}
type ImageServiceCtor = new (address: string, creds: grpc.ChannelCredentials) => ImageServiceClient;

let imageServiceCtor: ImageServiceCtor | undefined;
function loadImageService(): ImageServiceCtor {
  if (!imageServiceCtor) {
    const protoPath = fileURLToPath(new URL('./cri/api.proto', import.meta.url));
    const def = protoLoader.loadSync(protoPath, { keepCase: true, longs: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { ImageService: ImageServiceCtor } } };
    imageServiceCtor = pkg.runtime.v1.ImageService;
  }
  return imageServiceCtor;
}

function call<T>(fn: (cb: (e: grpc.ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((e, res) => (e ? reject(e) : resolve(res as T))));
}

/**
 * runtime.v1.ImageService/PullImage over containerd's unix socket, as kubelet does (CRI registry
 * config applies, not hosts dirs given to ctr), then ImageStatus to check the image is there.
 */
export async function criPull(
  c: Containerd,
  ref: string,
  auth?: { username: string; password: string },
  timeoutMs = 60000,
): Promise<{ ok: boolean; imageRef?: string; error?: string }> {
  const Ctor = loadImageService();
  const client = new Ctor(`unix://${c.socket}`, grpc.credentials.createInsecure());
  const deadline = () => ({ deadline: Date.now() + timeoutMs });
  try {
    const pulled = await call<{ image_ref: string }>((cb) =>
      client.PullImage({ image: { image: ref }, auth: auth ?? null }, new grpc.Metadata(), deadline(), cb),
    );
    const status = await call<{ image?: { id: string } | null }>((cb) =>
      client.ImageStatus({ image: { image: ref } }, new grpc.Metadata(), deadline(), cb),
    );
    if (!status.image?.id) return { ok: false, imageRef: pulled.image_ref, error: `PullImage returned ${pulled.image_ref} but ImageStatus does not know ${ref}` };
    return { ok: true, imageRef: pulled.image_ref };
  } catch (err) {
    const e = err as grpc.ServiceError;
    let error = e.details || e.message;
    if (auth?.password) error = error.split(auth.password).join('<password>');
    return { ok: false, error };
  } finally {
    client.close();
  }
}
