// The official Node.js runtime for a unit's architecture, from the npm registry's node-linux-<arch>
// package (the nodejs.org build: links only libc/libstdc++). Fetched with `npm pack`, checked against
// the registry's own sha512 `dist.integrity`, unpacked once and cached under build/node-runtime/.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// Debian architecture (what Juju and charmcraft say) -> npm's os-arch package suffix.
export const NPM_ARCH = { amd64: 'x64', arm64: 'arm64', ppc64el: 'ppc64le', s390x: 's390x' };
export const NODE_MAJOR = '20';

export function hostArchitecture() {
  return { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' }[process.arch] ?? process.arch;
}

function npm(args, cwd) {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Returns the path of bin/node for `arch`, downloading and verifying it on first use.
export function nodeRuntime(arch, { cacheDir = path.resolve('build/node-runtime'), log = console.error } = {}) {
  const npmArch = NPM_ARCH[arch];
  if (!npmArch) throw new Error(`no official Node.js build for architecture ${arch} (known: ${Object.keys(NPM_ARCH).join(', ')})`);
  const pkg = `node-linux-${npmArch}`;
  const marker = path.join(cacheDir, `${pkg}@${NODE_MAJOR}.json`);
  if (fs.existsSync(marker)) {
    const cached = JSON.parse(fs.readFileSync(marker, 'utf8'));
    if (fs.existsSync(cached.node)) return cached;
  }
  fs.mkdirSync(cacheDir, { recursive: true });
  // A range makes npm view answer one entry per matching version, in no promised order: take the newest.
  const answer = JSON.parse(npm(['view', `${pkg}@${NODE_MAJOR}`, 'version', 'dist.integrity', '--json'], cacheDir));
  const newer = (a, b) => { const [x, y] = [a, b].map((v) => v.version.split('.').map(Number)); return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]; };
  const meta = Array.isArray(answer) ? answer.sort(newer).pop() : answer;
  const version = meta.version;
  const integrity = meta['dist.integrity'];
  if (!version || !String(integrity).startsWith('sha512-')) throw new Error(`npm view ${pkg}@${NODE_MAJOR} gave no sha512 integrity`);
  log(`fetching ${pkg}@${version} from the npm registry (${integrity.slice(0, 22)}...)`);
  const [packed] = JSON.parse(npm(['pack', `${pkg}@${version}`, '--json', '--pack-destination', cacheDir], cacheDir));
  const tarball = path.join(cacheDir, packed.filename);
  const actual = 'sha512-' + crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64');
  if (actual !== integrity) {
    fs.rmSync(tarball, { force: true });
    throw new Error(`${pkg}@${version}: tarball sha512 ${actual} does not match the registry's integrity ${integrity}`);
  }
  const dir = path.join(cacheDir, `${pkg}-${version}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir);
  execFileSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1']);
  fs.rmSync(tarball, { force: true });
  const node = path.join(dir, 'bin', 'node');
  if (!fs.existsSync(node)) throw new Error(`${pkg}@${version} holds no bin/node`);
  const result = { arch, package: pkg, version, integrity, node };
  fs.writeFileSync(marker, JSON.stringify(result, null, 2));
  return result;
}
