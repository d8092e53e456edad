// Packs the charm the way Juju reads it: a zip with metadata.yaml, config.yaml, actions.yaml,
// manifest.yaml, dispatch (mode 0755), the bundled JS, README, LICENSE and a Node.js runtime.
//   node scripts/pack.mjs                      one charm per architecture (--arch amd64,arm64 by default):
//                                              offline-registry_<arch>.charm with the official Node.js 20
//                                              for that arch (npm registry node-linux-<arch>, sha512-checked,
//                                              cached in build/node-runtime); manifest.yaml lists 22.04 and 24.04
//   node scripts/pack.mjs --node PATH          one charm (CHARM_OUT) with that Node.js binary, host arch
//   node scripts/pack.mjs --without-node       one charm (CHARM_OUT) without a runtime (tests, units with nodejs >= 18)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import yazl from 'yazl';
import { hostArchitecture, nodeRuntime } from './node-runtime.mjs';

const argv = process.argv.slice(2);
const args = new Set(argv);
const withNode = !args.has('--without-node');
// --node PATH packs another Node.js build than the one running this script.
const explicitNode = argv.includes('--node') ? path.resolve(argv[argv.indexOf('--node') + 1]) : null;
const archList = argv.includes('--arch') ? argv[argv.indexOf('--arch') + 1].split(',').filter(Boolean) : ['amd64', 'arm64'];
// Per-architecture mode: neither --without-node nor --node.
const perArch = withNode && !explicitNode;
const outDir = path.resolve(process.env.CHARM_OUT_DIR ?? '.');
const stageOnly = args.has('--stage-only');
const out = path.resolve(process.env.CHARM_OUT ?? 'offline-registry.charm');
const builtDist = path.resolve('build/charm/dist');
// charm.cjs (what dispatch runs) runs bundle.cjs, every hook and action, through a V8 code cache;
// kube.cjs holds @kubernetes/client-node for audit-cluster alone; exporter.mjs is the metrics
// exporter service (while cos-agent is related). See scripts/build.mjs.
const bundles = ['charm.cjs', 'bundle.cjs', 'kube.cjs', 'exporter.mjs'];
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

export const CHARM_BASES = ['22.04', '24.04'];

function manifestYaml(arch) {
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
    ...CHARM_BASES.flatMap((channel) => ['- name: ubuntu', `  channel: '${channel}'`, '  architectures:', `  - ${arch}`]),
    '',
  ].join('\n');
}

for (const name of bundles) {
  if (!fs.existsSync(path.join(builtDist, name))) {
    console.error(`build/charm/dist/${name} is missing: run npm run build first`);
    process.exit(1);
  }
}

// Stages one charm in `stageDir` (with `nodeBinary` as runtime/node unless null) and zips it to `out`.
async function packCharm({ arch, nodeBinary, stageDir, out, checkLibs }) {
  fs.mkdirSync(path.join(stageDir, 'dist'), { recursive: true });
  for (const name of bundles) {
    if (path.join(stageDir, 'dist', name) !== path.join(builtDist, name)) fs.copyFileSync(path.join(builtDist, name), path.join(stageDir, 'dist', name));
  }
  for (const file of ['metadata.yaml', 'config.yaml', 'actions.yaml', 'README.md', 'LICENSE', 'dispatch']) {
    fs.copyFileSync(file, path.join(stageDir, file));
  }
  fs.chmodSync(path.join(stageDir, 'dispatch'), 0o755);
  fs.writeFileSync(path.join(stageDir, 'manifest.yaml'), manifestYaml(arch));
  fs.rmSync(path.join(stageDir, 'runtime'), { recursive: true, force: true });
  if (nodeBinary) {
    const problems = checkLibs ? runtimeProblems(nodeBinary) : [];
    if (problems.length) {
      console.error(
        `refusing to pack ${nodeBinary}: it needs shared libraries an Ubuntu unit lacks (${problems.join(', ')}).\n` +
          'Build with the official Node.js binary (nodejs.org tarball) or pack --without-node for units with nodejs >= 18.',
      );
      process.exit(1);
    }
    fs.mkdirSync(path.join(stageDir, 'runtime'));
    fs.copyFileSync(nodeBinary, path.join(stageDir, 'runtime/node'));
    fs.chmodSync(path.join(stageDir, 'runtime/node'), 0o755);
  }
  if (stageOnly) return;
  const zip = new yazl.ZipFile();
  const entries = ['metadata.yaml', 'config.yaml', 'actions.yaml', 'manifest.yaml', 'README.md', 'LICENSE', ...bundles.map((name) => `dist/${name}`), 'dispatch', ...(nodeBinary ? ['runtime/node'] : [])];
  for (const name of entries) {
    const mode = name === 'dispatch' || name === 'runtime/node' ? 0o100755 : 0o100644;
    zip.addFile(path.join(stageDir, name), name, { mode, mtime: new Date('2020-01-01T00:00:00Z') });
  }
  zip.end();
  await new Promise((resolve, reject) => {
    const tmp = `${out}.tmp`;
    zip.outputStream.pipe(fs.createWriteStream(tmp)).on('close', () => {
      fs.renameSync(tmp, out);
      resolve();
    }).on('error', reject);
  });
  console.log(`packed ${path.relative(process.cwd(), out)} (${(fs.statSync(out).size / 1048576).toFixed(1)} MiB, ${arch}, ubuntu ${CHARM_BASES.join(' and ')}${nodeBinary ? ', with ' + nodeBinary : ', without Node.js'})`);
}

if (perArch) {
  fs.mkdirSync(outDir, { recursive: true });
  for (const arch of archList) {
    let runtime;
    try {
      runtime = nodeRuntime(arch);
    } catch (err) {
      console.error(`cannot get Node.js for ${arch}: ${err.message}`);
      process.exit(1);
    }
    // ldd only reads binaries of the host's architecture; the official builds need libc/libstdc++ only.
    await packCharm({ arch, nodeBinary: runtime.node, stageDir: path.join(stage, arch), out: path.join(outDir, `offline-registry_${arch}.charm`), checkLibs: arch === hostArchitecture() });
  }
} else {
  await packCharm({ arch: hostArchitecture(), nodeBinary: withNode ? explicitNode : null, stageDir: stage, out, checkLibs: true });
}
