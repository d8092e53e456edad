// A throwaway real docker-registry whose `http` and `auth` sections the test chooses (the shared
// startTestRegistry fixes http and waits for an anonymous 200, which TLS and auth rule out).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { freePort, waitFor } from '../support/ports.js';

export interface ConfiguredRegistry {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startConfiguredRegistry(opts: {
  /** Storage root to serve (e.g. another test registry's, already filled); default a fresh one. */
  dataDir?: string;
  /** Files to write into the registry's temp dir before start, by file name; mode 0600. */
  files?: Record<string, string>;
  /** Builds the config sections from the temp dir (for file paths) and the port. */
  config: (dir: string, port: number) => { http?: Record<string, unknown>; auth?: Record<string, unknown> };
}): Promise<ConfiguredRegistry> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'test-registry-cfg-'));
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    fs.writeFileSync(path.join(dir, name), content, { mode: 0o600 });
  }
  const sections = opts.config(dir, port);
  const config = {
    version: 0.1,
    log: { level: 'warn' },
    storage: { filesystem: { rootdirectory: opts.dataDir ?? path.join(dir, 'data') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: 'test-secret', ...(sections.http ?? {}) },
    ...(sections.auth ? { auth: sections.auth } : {}),
  };
  const configPath = path.join(dir, 'config.yml');
  fs.writeFileSync(configPath, YAML.stringify(config));
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const stop = async () => {
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
  return { port, dir, stop };
}
