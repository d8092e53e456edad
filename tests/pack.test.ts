// The .charm is what Juju reads: check the zip itself, as built by `npm run pack`.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import yauzl from 'yauzl';

interface ZipEntryInfo { name: string; mode: number; data: Buffer }

function readZip(file: string): Promise<Map<string, ZipEntryInfo>> {
  return new Promise((resolve, reject) => {
    const entries = new Map<string, ZipEntryInfo>();
    yauzl.open(file, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err);
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (streamErr, stream) => {
          if (streamErr || !stream) return reject(streamErr);
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            entries.set(entry.fileName, { name: entry.fileName, mode: (entry.externalFileAttributes >>> 16) & 0o7777, data: Buffer.concat(chunks) });
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

const repo = path.resolve(new URL('..', import.meta.url).pathname);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pack-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function pack(out: string, ...args: string[]) {
  return spawnSync('node', ['scripts/pack.mjs', ...args], { cwd: repo, env: { ...process.env, CHARM_OUT: out, CHARM_OUT_DIR: out, CHARM_STAGE: `${out}.stage` }, encoding: 'utf8' });
}

// ELF e_machine of a binary: which architecture it runs on.
const ELF_MACHINE: Record<number, string> = { 62: 'amd64', 183: 'arm64', 21: 'ppc64el', 22: 's390x' };
function elfArch(binary: Buffer): string {
  expect(binary.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return ELF_MACHINE[binary.readUInt16LE(18)] ?? `machine ${binary.readUInt16LE(18)}`;
}

test('the packed charm holds what Juju needs, dispatch 0755, one JS bundle and the Node.js runtime', async () => {
  const out = path.join(tmp, 'with-node.charm');
  const result = pack(out, '--node', process.execPath);
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  const entries = await readZip(out);
  expect([...entries.keys()].sort()).toEqual(
    ['LICENSE', 'README.md', 'actions.yaml', 'config.yaml', 'dispatch', 'dist/bundle.cjs', 'dist/charm.cjs', 'dist/exporter.mjs', 'dist/kube.cjs', 'manifest.yaml', 'metadata.yaml', 'runtime/node'].sort(),
  );
  expect(entries.get('dispatch')!.mode).toBe(0o755);
  expect(entries.get('runtime/node')!.mode).toBe(0o755);
  expect(entries.get('runtime/node')!.data.equals(fs.readFileSync(process.execPath))).toBe(true);
  expect([...entries.keys()].some((n) => n.includes('node_modules'))).toBe(false);
  const metadata = YAML.parse(entries.get('metadata.yaml')!.data.toString());
  expect(metadata.name).toBe('offline-registry');
  expect(metadata.provides['docker-registry'].interface).toBe('docker-registry');
  const manifest = YAML.parse(entries.get('manifest.yaml')!.data.toString());
  const arch = { x64: 'amd64', arm64: 'arm64' }[os.arch() as 'x64' | 'arm64'] ?? os.arch();
  expect(manifest.bases).toEqual([
    { name: 'ubuntu', channel: '22.04', architectures: [arch] },
    { name: 'ubuntu', channel: '24.04', architectures: [arch] },
  ]);
  // charmcraft's entrypoint linter reads the last token of dispatch's last line.
  const lastLine = entries.get('dispatch')!.data.toString().trim().split('\n').pop()!;
  expect(lastLine.split(/\s+/).pop()).toBe('dist/charm.cjs');
  expect(entries.get('dist/bundle.cjs')!.data.length).toBeGreaterThan(100_000);
});

test('--without-node leaves the runtime out', async () => {
  const out = path.join(tmp, 'without-node.charm');
  expect(pack(out, '--without-node').status).toBe(0);
  const entries = await readZip(out);
  expect(entries.has('runtime/node')).toBe(false);
  expect(entries.has('dispatch')).toBe(true);
});

test('a runtime that needs libraries an Ubuntu unit lacks is refused, naming them', () => {
  // skopeo links gpgme and friends: stands in for a distro node linked against libnode/libuv.
  const candidate = execFileSync('sh', ['-c', 'command -v skopeo'], { encoding: 'utf8' }).trim();
  const out = path.join(tmp, 'refused.charm');
  const result = pack(out, '--node', candidate);
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(/refusing to pack .*skopeo: it needs shared libraries an Ubuntu unit lacks \(.*libgpgme/);
  expect(fs.existsSync(out)).toBe(false);
});

test('npm run pack builds one charm per architecture with that architecture\'s official Node.js, and the host\'s runs', async () => {
  // The node-linux-<arch> tarballs are fetched once (npm registry, sha512-checked) and cached in build/node-runtime.
  const dir = path.join(tmp, 'per-arch');
  const result = pack(dir, '--arch', 'amd64,arm64');
  expect(result.status).toBe(0);
  expect(fs.readdirSync(dir).filter((n) => n.endsWith('.charm')).sort()).toEqual(['offline-registry_amd64.charm', 'offline-registry_arm64.charm']);
  const hostArch = { x64: 'amd64', arm64: 'arm64' }[os.arch() as 'x64' | 'arm64'] ?? os.arch();
  for (const arch of ['amd64', 'arm64']) {
    const entries = await readZip(path.join(dir, `offline-registry_${arch}.charm`));
    const manifest = YAML.parse(entries.get('manifest.yaml')!.data.toString());
    expect(manifest.bases).toEqual([
      { name: 'ubuntu', channel: '22.04', architectures: [arch] },
      { name: 'ubuntu', channel: '24.04', architectures: [arch] },
    ]);
    const node = entries.get('runtime/node')!;
    expect(node.mode).toBe(0o755);
    expect(elfArch(node.data)).toBe(arch);
    // The cache records the registry's integrity the tarball was checked against.
    const npmArch = { amd64: 'x64', arm64: 'arm64' }[arch]!;
    const cached = JSON.parse(fs.readFileSync(path.join(repo, `build/node-runtime/node-linux-${npmArch}@20.json`), 'utf8'));
    expect(cached.integrity).toMatch(/^sha512-/);
    expect(node.data.equals(fs.readFileSync(cached.node))).toBe(true);
    if (arch === hostArch) {
      const unpacked = path.join(tmp, `node-${arch}`);
      fs.writeFileSync(unpacked, node.data, { mode: 0o755 });
      const ran = spawnSync(unpacked, ['-p', 'process.version + " " + process.arch'], { encoding: 'utf8' });
      expect(ran.status).toBe(0);
      expect(ran.stdout.trim()).toBe(`v${cached.version} ${os.arch()}`);
      expect(ran.stdout).toMatch(/^v20\./);
    }
  }
}, 300000);
