// Packs offline-registry.charm the way Juju reads it: a zip with metadata.yaml, config.yaml,
// actions.yaml, manifest.yaml, dispatch (mode 0755), the bundled JS, README, LICENSE and, unless
// --without-node, the Node.js runtime that runs this build.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yazl from 'yazl';

const argv = process.argv.slice(2);
const args = new Set(argv);
const withNode = !args.has('--without-node');
// --node PATH packs another Node.js build than the one running this script.
const nodeBinary = argv.includes('--node') ? path.resolve(argv[argv.indexOf('--node') + 1]) : process.execPath;
const stageOnly = args.has('--stage-only');
const out = path.resolve(process.env.CHARM_OUT ?? 'offline-registry.charm');
const builtDist = path.resolve('build/charm/dist');
// charm.mjs runs every hook; kube.mjs holds @kubernetes/client-node for audit-cluster alone;
// exporter.mjs is the metrics exporter service (while cos-agent is related).
const bundles = ['charm.mjs', 'kube.mjs', 'exporter.mjs'];
// CHARM_STAGE lets tests pack without touching the repo's build dir.
const stage = path.resolve(process.env.CHARM_STAGE ?? 'build/charm');

// Libraries every Ubuntu 22.04/24.04 unit has (libc6, libstdc++6, libgcc-s1): a runtime that needs
// more (Debian's nodejs links libnode, libuv, libssl, libicu...) would not start on the unit.
const BASE_LIBS = /^(linux-vdso|linux-gate|ld-linux[^ ]*|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libatomic|libresolv)\.so/;

function runtimeProblems(binary) {
  let ldd;
  try {
    ldd = execFileSync('ldd', [binary], { encoding: 'utf8' });
  } catch (err) {
    return String(err.stdout ?? '').includes('not a dynamic executable') ? [] : [`ldd ${binary} failed: ${err.message}`];
  }
  return ldd
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((lib) => lib && !BASE_LIBS.test(path.basename(lib)) && !lib.startsWith('statically'));
}

function architecture() {
  return { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64el', s390x: 's390x', riscv64: 'riscv64' }[os.arch()] ?? os.arch();
}

function manifestYaml() {
  const arch = architecture();
  return [
    'analysis:',
    '  attributes:',
    '  - name: language',
    '    result: unknown',
    '  - name: framework',
    '    result: unknown',
    `charmcraft-started-at: '${new Date().toISOString()}'`,
    "charmcraft-version: 'offline-registry npm run pack'",
    'bases:',
    ...['22.04', '24.04'].flatMap((channel) => ['- name: ubuntu', `  channel: '${channel}'`, '  architectures:', `  - ${arch}`]),
    '',
  ].join('\n');
}

for (const name of bundles) {
  if (!fs.existsSync(path.join(builtDist, name))) {
    console.error(`build/charm/dist/${name} is missing: run npm run build first`);
    process.exit(1);
  }
}
fs.mkdirSync(path.join(stage, 'dist'), { recursive: true });
for (const name of bundles) {
  if (path.join(stage, 'dist', name) !== path.join(builtDist, name)) fs.copyFileSync(path.join(builtDist, name), path.join(stage, 'dist', name));
}
for (const file of ['metadata.yaml', 'config.yaml', 'actions.yaml', 'README.md', 'LICENSE', 'dispatch']) {
  fs.copyFileSync(file, path.join(stage, file));
}
fs.chmodSync(path.join(stage, 'dispatch'), 0o755);
fs.writeFileSync(path.join(stage, 'manifest.yaml'), manifestYaml());
fs.rmSync(path.join(stage, 'runtime'), { recursive: true, force: true });
if (withNode) {
  const problems = runtimeProblems(nodeBinary);
  if (problems.length) {
    console.error(
      `refusing to pack ${nodeBinary}: it needs shared libraries an Ubuntu unit lacks (${problems.join(', ')}).\n` +
        'Build with the official Node.js binary (nodejs.org tarball) or pack --without-node for units with nodejs >= 18.',
    );
    process.exit(1);
  }
  fs.mkdirSync(path.join(stage, 'runtime'));
  fs.copyFileSync(nodeBinary, path.join(stage, 'runtime/node'));
  fs.chmodSync(path.join(stage, 'runtime/node'), 0o755);
}
if (stageOnly) process.exit(0);

const zip = new yazl.ZipFile();
const entries = ['metadata.yaml', 'config.yaml', 'actions.yaml', 'manifest.yaml', 'README.md', 'LICENSE', ...bundles.map((name) => `dist/${name}`), 'dispatch', ...(withNode ? ['runtime/node'] : [])];
for (const name of entries) {
  const mode = name === 'dispatch' || name === 'runtime/node' ? 0o100755 : 0o100644;
  zip.addFile(path.join(stage, name), name, { mode, mtime: new Date('2020-01-01T00:00:00Z') });
}
zip.end();
await new Promise((resolve, reject) => {
  const tmp = `${out}.tmp`;
  zip.outputStream.pipe(fs.createWriteStream(tmp)).on('close', () => {
    fs.renameSync(tmp, out);
    resolve();
  }).on('error', reject);
});
console.log(`packed ${path.relative(process.cwd(), out)} (${(fs.statSync(out).size / 1048576).toFixed(1)} MiB${withNode ? ', with ' + nodeBinary : ', without Node.js'})`);
