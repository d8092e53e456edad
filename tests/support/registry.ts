// Throwaway real CNCF distribution registries (Debian's docker-registry) on 127.0.0.1 for tests:
// one process lifecycle, whatever http/auth sections a test needs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { freePort, waitFor } from './ports.js';

export interface ConfiguredRegistry {
  port: number;
  /** The registry's temp dir (config, files given, default storage). */
  dir: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * A registry whose `http` and `auth` sections the test chooses (TLS, htpasswd). Ready once it
 * accepts connections: with TLS or auth an anonymous plain GET cannot tell.
 */
export async function startConfiguredRegistry(opts: {
  /** Storage root to serve (e.g. another test registry's, already filled); default a fresh one. */
  dataDir?: string;
  /** Files to write into the registry's temp dir before start, by file name; mode 0600. */
  files?: Record<string, string>;
  /** Builds the config sections from the temp dir (for file paths) and the port. */
  config?: (dir: string, port: number) => { http?: Record<string, unknown>; auth?: Record<string, unknown> };
}): Promise<ConfiguredRegistry> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'test-registry-'));
  const dataDir = opts.dataDir ?? path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    fs.writeFileSync(path.join(dir, name), content, { mode: 0o600 });
  }
  const sections = opts.config?.(dir, port) ?? {};
  const config = {
    version: 0.1,
    log: { level: 'warn' },
    storage: { filesystem: { rootdirectory: dataDir }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: 'test-secret', ...(sections.http ?? {}) },
    ...(sections.auth ? { auth: sections.auth } : {}),
  };
  const configPath = path.join(dir, 'config.yml');
  fs.writeFileSync(configPath, YAML.stringify(config));
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const stop = async () => {
    // A child killed by a signal has signalCode set and exitCode null: it has exited already.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
  try {
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error('exited');
      return accepts();
    }, 10000, `docker-registry on 127.0.0.1:${port}`);
  } catch (err) {
    await stop();
    throw new Error(`docker-registry did not start: ${(err as Error).message}\n${stderr}`);
  }
  return { port, dir, dataDir, stop };
}

export interface TestRegistry extends ConfiguredRegistry {
  url: string; // http://127.0.0.1:PORT
  host: string; // 127.0.0.1:PORT
}

/** A plain-HTTP registry, ready once it answers GET /v2/ with 200. */
export async function startTestRegistry(opts: { dataDir?: string } = {}): Promise<TestRegistry> {
  const registry = await startConfiguredRegistry({ dataDir: opts.dataDir });
  const url = `http://127.0.0.1:${registry.port}`;
  try {
    await waitFor(async () => (await fetch(`${url}/v2/`)).status === 200, 10000, `docker-registry on ${url}`);
  } catch (err) {
    await registry.stop();
    throw err;
  }
  return { ...registry, url, host: `127.0.0.1:${registry.port}` };
}
