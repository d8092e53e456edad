// garbage-collect: run the registry's own mark-and-sweep and measure what it freed on disk.
// Never --delete-untagged: it treats the untagged child manifests of a multi-arch index as garbage and has
// deleted parts of multi-arch images. The caller stops the writer before and restarts it after; the public
// read-only instance keeps serving.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}
export type Runner = (file: string, args: string[], opts: { timeoutMs: number }) => Promise<RunResult>;

export interface GcOptions {
  /** docker-registry binary, e.g. /usr/bin/docker-registry */
  binary: string;
  /** The writer's config.yml (same storage as the public instance). */
  configPath: string;
  /** storage.filesystem.rootdirectory of that config. */
  dataDir: string;
  runner?: Runner;
  /** Default 30 minutes: mark-and-sweep reads every manifest of every repository. */
  timeoutMs?: number;
  log?: (line: string) => Promise<void>;
}

export interface GcResult {
  bytesFreed: number;
  blobsRemoved: number;
  seconds: number;
  /** What docker-registry printed (stdout then stderr), trimmed to its last 64 KiB. */
  output: string;
}

export interface BlobUsage {
  blobs: number;
  bytes: number;
}

const OUTPUT_LIMIT = 64 * 1024;

/** Counts `<dataDir>/docker/registry/v2/blobs/<algorithm>/<xx>/<hex>/data` files and their bytes; 0 when absent. */
export async function blobUsage(dataDir: string): Promise<BlobUsage> {
  const root = path.join(dataDir, 'docker', 'registry', 'v2', 'blobs');
  const usage: BlobUsage = { blobs: 0, bytes: 0 };
  const list = async (dir: string): Promise<string[]> => {
    try {
      return await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };
  for (const algorithm of await list(root)) {
    for (const prefix of await list(path.join(root, algorithm))) {
      const hexes = await list(path.join(root, algorithm, prefix));
      const sizes = await Promise.all(
        hexes.map((hex) =>
          fs.stat(path.join(root, algorithm, prefix, hex, 'data')).then(
            (s) => (s.isFile() ? s.size : null),
            () => null,
          ),
        ),
      );
      for (const size of sizes) {
        if (size === null) continue;
        usage.blobs++;
        usage.bytes += size;
      }
    }
  }
  return usage;
}

const execaRunner: Runner = async (file, args, opts) => {
  const { execa } = await import('execa');
  const r = await execa(file, args, { reject: false, timeout: opts.timeoutMs, stdin: 'ignore', all: false });
  if (r.timedOut) throw new Error(`${file} ${args.join(' ')} did not finish within ${Math.round(opts.timeoutMs / 1000)} s and was killed`);
  if (r.failed && r.exitCode === undefined) {
    const why = (r as { code?: string }).code ?? r.originalMessage ?? 'spawn failed';
    throw new Error(`cannot run ${file} (${why}); is the docker-registry package installed?`);
  }
  return { exitCode: r.exitCode ?? 1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};

function tail(s: string): string {
  return s.length > OUTPUT_LIMIT ? `...${s.slice(-OUTPUT_LIMIT)}` : s;
}

export async function garbageCollect(opts: GcOptions): Promise<GcResult> {
  const run = opts.runner ?? execaRunner;
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const started = Date.now();
  const before = await blobUsage(opts.dataDir);
  await opts.log?.(`garbage-collect: ${before.blobs} blobs, ${before.bytes} bytes before`);
  const r = await run(opts.binary, ['garbage-collect', opts.configPath], { timeoutMs });
  const output = tail([r.stdout.trim(), r.stderr.trim()].filter(Boolean).join('\n'));
  if (r.exitCode !== 0) {
    const last = output.split('\n').slice(-5).join('\n');
    throw new Error(`${opts.binary} garbage-collect ${opts.configPath} failed with exit code ${r.exitCode}; check the config and that the writer is stopped:\n${last}`);
  }
  const after = await blobUsage(opts.dataDir);
  const result: GcResult = {
    bytesFreed: Math.max(0, before.bytes - after.bytes),
    blobsRemoved: Math.max(0, before.blobs - after.blobs),
    seconds: (Date.now() - started) / 1000,
    output,
  };
  await opts.log?.(`garbage-collect: removed ${result.blobsRemoved} blobs, freed ${result.bytesFreed} bytes in ${result.seconds.toFixed(1)} s`);
  return result;
}
