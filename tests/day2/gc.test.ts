import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRegistryClient } from '../../src/images/remote/index.js';
import { blobUsage, garbageCollect, type Runner } from '../../src/day2/gc.js';
import { startTestRegistry } from '../support/registry.js';
import { blob, pushImage, pushIndex, sha } from './images.js';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'day2-gc-'));
}

function writeBlob(dataDir: string, bytes: Buffer): void {
  const hex = sha(bytes).slice('sha256:'.length);
  const dir = path.join(dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'data'), bytes);
}

describe('garbage-collect logic', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('blobUsage counts blob data files and bytes; an empty or absent store is zero', async () => {
    expect(await blobUsage(path.join(dir, 'absent'))).toEqual({ blobs: 0, bytes: 0 });
    writeBlob(dir, Buffer.alloc(10));
    writeBlob(dir, Buffer.alloc(25, 1));
    // An upload in progress or a directory without data is not a blob.
    fs.mkdirSync(path.join(dir, 'docker/registry/v2/blobs/sha256/ff/ff00'), { recursive: true });
    expect(await blobUsage(dir)).toEqual({ blobs: 2, bytes: 35 });
  });

  test('runs garbage-collect without --delete-untagged and measures the difference', async () => {
    writeBlob(dir, Buffer.alloc(10));
    writeBlob(dir, Buffer.alloc(30, 2));
    const calls: Array<{ file: string; args: string[] }> = [];
    const runner: Runner = async (file, args) => {
      calls.push({ file, args });
      // What the real tool does: sweep one blob directory.
      const hex = sha(Buffer.alloc(30, 2)).slice(7);
      fs.rmSync(path.join(dir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex), { recursive: true });
      return { exitCode: 0, stdout: '2 blobs marked, 1 blobs and 0 manifests eligible for deletion', stderr: '' };
    };
    const logs: string[] = [];
    const r = await garbageCollect({ binary: '/usr/bin/docker-registry', configPath: '/etc/w.yml', dataDir: dir, runner, log: async (l) => void logs.push(l) });
    expect(calls).toEqual([{ file: '/usr/bin/docker-registry', args: ['garbage-collect', '/etc/w.yml'] }]);
    expect(r).toMatchObject({ bytesFreed: 30, blobsRemoved: 1, output: '2 blobs marked, 1 blobs and 0 manifests eligible for deletion' });
    expect(r.seconds).toBeGreaterThanOrEqual(0);
    expect(logs).toEqual(['garbage-collect: 2 blobs, 40 bytes before', expect.stringMatching(/^garbage-collect: removed 1 blobs, freed 30 bytes in \d+\.\d s$/)]);
  });

  test('a failing run is an error with its last output lines; a missing binary names the package', async () => {
    const runner: Runner = async () => ({ exitCode: 1, stdout: '', stderr: 'configuration error: open /nope.yml: no such file or directory' });
    await expect(garbageCollect({ binary: 'docker-registry', configPath: '/nope.yml', dataDir: dir, runner })).rejects.toThrow(
      'docker-registry garbage-collect /nope.yml failed with exit code 1; check the config and that the writer is stopped:\nconfiguration error: open /nope.yml: no such file or directory',
    );
    await expect(garbageCollect({ binary: path.join(dir, 'no-such-binary'), configPath: '/x.yml', dataDir: dir })).rejects.toThrow(/^cannot run .*no-such-binary \(ENOENT\); is the docker-registry package installed\?$/);
  });
});

describe('garbage-collect with the real docker-registry', () => {
  test('a deleted image loses only its own blobs; shared layers, a two-platform index and its children survive and are served', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const writer = await startTestRegistry({ dataDir });
    let writerStopped = false;
    let reader: Awaited<ReturnType<typeof startTestRegistry>> | undefined;
    try {
      const client = createRegistryClient({ baseUrl: writer.url }, { retryBaseMs: 10 });
      const shared = blob(4096);
      const uniqueA = blob(2048);
      const a = await pushImage(client, 'test/a', '1', [shared, uniqueA]);
      const b = await pushImage(client, 'test/b', '1', [shared, blob(1024)]);
      const c = await pushIndex(client, 'test/c', '1', [
        { platform: { os: 'linux', architecture: 'amd64' }, layers: [shared, blob(512)] },
        { platform: { os: 'linux', architecture: 'arm64' }, layers: [shared, blob(768)] },
      ]);
      await client.deleteManifest('test/a', a.digest);
      client.close();
      // Stopped once only: a second stop() of a signalled child would wait for an exit that already happened.
      writerStopped = true;
      await writer.stop();

      // The writer's config, pointing at the same storage.
      const configPath = path.join(dir, 'writer.yml');
      fs.writeFileSync(configPath, `version: 0.1\nlog: {level: info}\nstorage: {filesystem: {rootdirectory: ${JSON.stringify(dataDir)}}, delete: {enabled: true}}\nhttp: {addr: "127.0.0.1:0", secret: s}\n`);
      const result = await garbageCollect({ binary: '/usr/bin/docker-registry', configPath, dataDir, timeoutMs: 60_000 });
      // A's manifest, config and unique layer; the shared layer is still used by B and C.
      expect(result.blobsRemoved).toBe(3);
      expect(result.bytesFreed).toBe(a.manifest.length + a.config.size + uniqueA.size);
      expect(result.output).toMatch(/blobs marked, 3 blobs and \d+ manifests eligible for deletion/);

      reader = await startTestRegistry({ dataDir });
      const check = createRegistryClient({ baseUrl: reader.url }, { retryBaseMs: 10, maxRetries: 0 });
      try {
        expect(await check.hasBlob('test/a', uniqueA.digest)).toBeNull();
        expect(await check.hasBlob('test/b', shared.digest)).toBe(shared.size);
        for (const bl of [b.config, ...b.layers]) expect(await check.hasBlob('test/b', bl.digest)).toBe(bl.size);
        expect((await check.getManifest('test/b', '1'))?.digest).toBe(b.digest);
        expect((await check.getManifest('test/c', '1'))?.digest).toBe(c.digest);
        for (const child of c.children) {
          expect((await check.getManifest('test/c', child.digest))?.digest).toBe(child.digest);
          for (const bl of [child.config, ...child.layers]) {
            expect(await check.hasBlob('test/c', bl.digest)).toBe(bl.size);
          }
        }
        // GET the bytes of one layer of each platform, not just HEAD.
        for (const child of c.children) {
          const res = await fetch(`${reader.url}/v2/test/c/blobs/${child.layers[1].digest}`);
          expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(child.layers[1].digest);
        }
      } finally {
        check.close();
      }
    } finally {
      await reader?.stop();
      if (!writerStopped) await writer.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  test('why not --delete-untagged: on this docker-registry it sweeps the layers under a tagged index', async () => {
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const writer = await startTestRegistry({ dataDir });
    let writerStopped = false;
    try {
      const client = createRegistryClient({ baseUrl: writer.url }, { retryBaseMs: 10 });
      const c = await pushIndex(client, 'test/c', '1', [
        { platform: { os: 'linux', architecture: 'amd64' }, layers: [blob(256)] },
        { platform: { os: 'linux', architecture: 'arm64' }, layers: [blob(256)] },
      ]);
      client.close();
      writerStopped = true;
      await writer.stop();
      const configPath = path.join(dir, 'writer.yml');
      fs.writeFileSync(configPath, `version: 0.1\nstorage: {filesystem: {rootdirectory: ${JSON.stringify(dataDir)}}, delete: {enabled: true}}\n`);
      execFileSync('/usr/bin/docker-registry', ['garbage-collect', '--delete-untagged', configPath], { stdio: 'ignore', timeout: 20_000 });
      const usage = await blobUsage(dataDir);
      // The index and its child manifests stay, but every config and layer under them is swept: the image is broken.
      expect(usage).toEqual({ blobs: 3, bytes: c.index.length + c.children[0].manifest.length + c.children[1].manifest.length });
    } finally {
      if (!writerStopped) await writer.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
