// Where the registry binary comes from: the registry-package resource (a .deb or a static binary,
// for units without an APT mirror) or the Ubuntu/Debian package docker-registry.
import fs from 'node:fs';
import path from 'node:path';
import type { CommandRunner } from '../juju/index.js';

export const PACKAGE = 'docker-registry';

export class InstallError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InstallError';
  }
}

export interface InstalledRegistry {
  binary: string;
  version: string;
  source: 'resource' | 'apt';
  /** The registry-package resource file it came from (stat identity), so a new one is noticed. */
  resourceFingerprint?: string;
}

/** Stat identity of a non-empty resource file; undefined when there is none (Juju's empty placeholder). */
export function resourceFingerprint(file: string | null): string | undefined {
  if (!file) return undefined;
  try {
    const stat = fs.statSync(file);
    return stat.isFile() && stat.size > 0 ? `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}` : undefined;
  } catch {
    return undefined;
  }
}

function fileKind(file: string): 'deb' | 'elf' | 'unknown' {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(21);
    fs.readSync(fd, head, 0, head.length, 0);
    if (head.toString('latin1').startsWith('!<arch>\ndebian-binary')) return 'deb';
    if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return 'elf';
    return 'unknown';
  } finally {
    fs.closeSync(fd);
  }
}

async function fromResource(runner: CommandRunner, resource: string, packageDir: string): Promise<string> {
  const kind = fileKind(resource);
  fs.mkdirSync(packageDir, { recursive: true });
  if (kind === 'elf') {
    const target = path.join(packageDir, 'bin', 'docker-registry');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(resource, `${target}.new`);
    fs.chmodSync(`${target}.new`, 0o755);
    fs.renameSync(`${target}.new`, target);
    return target;
  }
  if (kind === 'deb') {
    const unpacked = path.join(packageDir, 'deb');
    fs.rmSync(unpacked, { recursive: true, force: true });
    await runner.run('dpkg-deb', ['-x', resource, unpacked]);
    for (const candidate of ['usr/bin/docker-registry', 'usr/bin/registry', 'bin/registry']) {
      if (fs.existsSync(path.join(unpacked, candidate))) return path.join(unpacked, candidate);
    }
    throw new InstallError(`registry-package resource ${path.basename(resource)} is a .deb without usr/bin/docker-registry: attach the docker-registry package`);
  }
  throw new InstallError(`registry-package resource ${path.basename(resource)} is neither a .deb nor an executable: attach the docker-registry .deb or a static registry binary`);
}

function onPath(name: string, pathEnv = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

async function fromApt(runner: CommandRunner): Promise<string> {
  try {
    await runner.run('apt-get', ['install', '-y', '-q', PACKAGE]);
  } catch {
    // The package index may simply be stale on a fresh unit.
    try {
      await runner.run('apt-get', ['update', '-q']);
      await runner.run('apt-get', ['install', '-y', '-q', PACKAGE]);
    } catch {
      throw new InstallError(`${PACKAGE} package not available: configure the model's apt-mirror or attach the registry-package resource`);
    }
  }
  const binary = onPath(PACKAGE) ?? (fs.existsSync(`/usr/bin/${PACKAGE}`) ? `/usr/bin/${PACKAGE}` : null);
  if (!binary) throw new InstallError(`${PACKAGE} was installed but no ${PACKAGE} binary is on PATH: reinstall the package`);
  return binary;
}

export async function registryVersion(runner: CommandRunner, binary: string): Promise<string> {
  // "docker-registry github.com/docker/distribution 2.8.2+ds1" / "registry github.com/distribution/distribution/v3 v3.0.0"
  const output = await runner.run(binary, ['--version']);
  const match = /\sv?(\d+\.\d+\.\d+\S*)/.exec(output);
  return match ? match[1] : output.trim().split(/\s+/).pop() ?? 'unknown';
}

export async function installRegistry(runner: CommandRunner, opts: { resource: string | null; packageDir: string }): Promise<InstalledRegistry> {
  const fingerprint = resourceFingerprint(opts.resource);
  const useResource = fingerprint !== undefined;
  const binary = useResource ? await fromResource(runner, opts.resource!, opts.packageDir) : await fromApt(runner);
  let version: string;
  try {
    version = await registryVersion(runner, binary);
  } catch (err) {
    throw new InstallError(`${binary} does not run (${(err as Error).message.split('\n')[0]}): attach a registry-package built for this machine`);
  }
  return { binary, version, source: useResource ? 'resource' : 'apt', resourceFingerprint: fingerprint };
}
