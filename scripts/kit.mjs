// npm run kit -- --list container-images/v1.32.0.txt --arch amd64,arm64 -o kit/
// Connected side of the air gap: copies every image of a release list, with the requested platforms,
// into one OCI layout using skopeo (skopeo copy verifies every blob digest as it copies), checks
// each copied manifest against the upstream digest, and writes the kit to carry across:
//   offline-registry_<arch>.charm   the charm with Node.js for each architecture
//   images.tar                      the OCI layout as one archive (the charm's `images` resource)
//   image-list.txt                  the list (the charm's `image-list` resource, for check-images)
//   SHA256SUMS                      `sha256sum -c SHA256SUMS` on the far side
//   README.md                       what to run there
// Rerunning with the same -o resumes: images already copied and checked are skipped, and blobs
// already in the layout are not fetched again.
// Options: --authfile FILE (containers-auth.json, as `skopeo login` writes; default skopeo's own),
//          --plain-http HOST (a registry without TLS, repeatable), --charm FILE (ship this charm
//          instead of packing one per architecture, repeatable), --base ubuntu@24.04 (for the README).
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const USAGE = 'usage: npm run kit -- --list FILE [--arch amd64,arm64] [-o kit/] [--authfile FILE] [--plain-http HOST]... [--charm FILE]... [--base ubuntu@24.04]';

function parseArgs(argv) {
  const opts = { arch: ['amd64', 'arm64'], out: 'kit', plainHttp: [], charms: [], base: 'ubuntu@24.04' };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      if (i + 1 >= argv.length) fail(`${argv[i]} needs a value\n${USAGE}`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--list': opts.list = next(); break;
      case '--arch': opts.arch = next().split(',').filter(Boolean); break;
      case '-o': case '--out': opts.out = next(); break;
      case '--authfile': opts.authfile = next(); break;
      case '--plain-http': opts.plainHttp.push(next()); break;
      case '--charm': opts.charms.push(next()); break;
      case '--base': opts.base = next(); break;
      default: fail(`unknown option ${argv[i]}\n${USAGE}`);
    }
  }
  if (!opts.list) fail(`--list is required\n${USAGE}`);
  return opts;
}

function fail(message) {
  console.error(`kit: ${message}`);
  process.exit(1);
}

const sha256 = (bytes) => `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;

function sha256File(file) {
  const hash = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
  fs.closeSync(fd);
  return hash.digest('hex');
}

// Release lists hold one reference a line; '#' comments and blank lines are skipped.
export function readList(text) {
  return [...new Set(text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean))];
}

// docker.io/library/x for bare names, as containerd and the charm name them.
function fullReference(ref) {
  const first = ref.split('/')[0];
  const hasHost = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let full = hasHost ? ref : `docker.io/${ref.includes('/') ? ref : `library/${ref}`}`;
  if (!/[:@][^/]*$/.test(full.slice(full.lastIndexOf('/')))) full += ':latest';
  return full;
}

function skopeo(args, opts) {
  const result = spawnSync('skopeo', args, { encoding: opts?.encoding ?? 'utf8', maxBuffer: 64 << 20 });
  if (result.error) fail(`skopeo is needed to copy images (apt-get install skopeo): ${result.error.message}`);
  if (result.status !== 0) throw new Error(String(result.stderr).trim() || `skopeo ${args[0]} exited ${result.status}`);
  return result.stdout;
}

function sourceFlags(ref, opts, prefix) {
  const host = ref.split('/')[0];
  return [
    ...(opts.authfile ? [`--${prefix}authfile`, opts.authfile] : []),
    ...(opts.plainHttp.includes(host) ? [`--${prefix}tls-verify=false`] : []),
  ];
}

const OS_ARCH = { amd64: 'amd64', arm64: 'arm64', ppc64el: 'ppc64le', s390x: 's390x' };

function humanSize(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; bytes >= 1024 && i < units.length - 1; i++) bytes /= 1024;
  return `${bytes.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const out = path.resolve(opts.out);
  const work = path.join(out, '.work');
  const layout = path.join(work, 'oci');
  fs.mkdirSync(layout, { recursive: true });
  const donePath = path.join(work, 'done.json');
  const done = fs.existsSync(donePath) ? JSON.parse(fs.readFileSync(donePath, 'utf8')) : {};
  let listText;
  try {
    listText = fs.readFileSync(opts.list, 'utf8');
  } catch (err) {
    fail(`cannot read the image list ${opts.list}: ${err.message}`);
  }
  const refs = readList(listText);
  if (!refs.length) fail(`the image list ${opts.list} is empty`);
  const wanted = opts.arch.map((a) => OS_ARCH[a] ?? a);
  console.error(`kit: copying ${refs.length} images (platforms ${wanted.map((a) => `linux/${a}`).join(', ')}) with ${skopeo(['--version']).trim()} into ${path.relative(process.cwd(), layout)}`);
  const failures = [];
  refs.forEach((ref, i) => {
    const full = fullReference(ref);
    const step = `[${i + 1}/${refs.length}] ${full}`;
    try {
      // The upstream's own manifest: its digest is what the copy must keep (pulls by digest).
      const raw = skopeo(['inspect', '--raw', ...sourceFlags(full, opts, ''), `docker://${full}`], { encoding: 'buffer' });
      const digest = sha256(raw);
      if (done[full] === digest) {
        console.error(`${step}: already copied (${digest.slice(0, 19)}), skipped`);
        return;
      }
      const manifest = JSON.parse(raw.toString());
      const platforms = (manifest.manifests ?? []).map((m) => m.platform?.architecture).filter(Boolean);
      if (manifest.manifests) {
        const missing = wanted.filter((a) => !platforms.includes(a));
        if (missing.length) throw new Error(`upstream index has no ${missing.map((a) => `linux/${a}`).join(', ')} (it has ${platforms.join(', ')})`);
      } else if (wanted.length > 1) {
        console.error(`${step}: single-platform image (no index): only its own platform is copied`);
      }
      console.error(`${step}: copying ${manifest.manifests ? `index of ${platforms.join(', ')}` : 'image'} ...`);
      // --multi-arch all keeps the upstream index byte for byte (its digest stays pullable); platforms
      // beyond those requested come along with it.
      skopeo(['copy', '--quiet', '--multi-arch', 'all', '--preserve-digests', ...sourceFlags(full, opts, 'src-'), `docker://${full}`, `oci:${layout}:${full}`]);
      const index = JSON.parse(fs.readFileSync(path.join(layout, 'index.json'), 'utf8'));
      const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === full);
      if (!entry || entry.digest !== digest) throw new Error(`copied manifest ${entry?.digest} is not the upstream's ${digest}`);
      done[full] = digest;
      fs.writeFileSync(donePath, JSON.stringify(done, null, 1));
      console.error(`${step}: done (${digest.slice(0, 19)})`);
    } catch (err) {
      failures.push(`${full}: ${err.message.split('\n').pop()}`);
      console.error(`${step}: FAILED: ${err.message}`);
    }
  });
  if (failures.length) fail(`${failures.length} of ${refs.length} images were not copied; fix and rerun (copied ones are kept):\n  ${failures.join('\n  ')}`);

  // Every blob in the layout, read back against its name before it is archived.
  const blobDir = path.join(layout, 'blobs/sha256');
  let bytes = 0;
  for (const name of fs.readdirSync(blobDir)) {
    const file = path.join(blobDir, name);
    if (sha256File(file) !== name) fail(`blob ${name} in ${blobDir} does not match its digest: delete it and rerun`);
    bytes += fs.statSync(file).size;
  }
  console.error(`kit: ${fs.readdirSync(blobDir).length} blobs verified (${humanSize(bytes)})`);

  const imagesTar = path.join(out, 'images.tar');
  execFileSync('tar', ['-cf', `${imagesTar}.tmp`, '-C', layout, 'oci-layout', 'index.json', 'blobs']);
  fs.renameSync(`${imagesTar}.tmp`, imagesTar);
  fs.writeFileSync(path.join(out, 'image-list.txt'), refs.map(fullReference).join('\n') + '\n');

  const charms = [];
  if (opts.charms.length) {
    for (const file of opts.charms) {
      fs.copyFileSync(file, path.join(out, path.basename(file)));
      charms.push(path.basename(file));
    }
  } else {
    const repo = path.resolve(new URL('..', import.meta.url).pathname);
    execFileSync('node', ['scripts/build.mjs'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('node', ['scripts/pack.mjs', '--arch', opts.arch.join(',')], { cwd: repo, env: { ...process.env, CHARM_OUT_DIR: out }, stdio: ['ignore', 'inherit', 'inherit'] });
    charms.push(...opts.arch.map((a) => `offline-registry_${a}.charm`));
  }
  const tarSize = fs.statSync(imagesTar).size;
  // The registry holds each blob once, plus room for the next release's kit alongside.
  const storageGiB = Math.max(10, Math.ceil((2 * tarSize) / 2 ** 30));
  const charm = charms.find((c) => c.includes(opts.arch[0])) ?? charms[0];
  const deploy = `juju deploy ./${charm} offline-registry --base ${opts.base} --storage registry-data=${storageGiB}G --resource images=./images.tar --resource image-list=./image-list.txt`;
  fs.writeFileSync(
    path.join(out, 'README.md'),
    [
      '# offline-registry kit',
      '',
      `Built ${new Date().toISOString()} from ${path.basename(opts.list)}: ${refs.length} images, platforms ${wanted.map((a) => `linux/${a}`).join(', ')}, ${humanSize(tarSize)} (copied with skopeo).`,
      '',
      '1. Check the kit after carrying it: `sha256sum -c SHA256SUMS`',
      `2. Deploy (for another architecture use its charm and \`--constraints arch=...\`; add \`--resource registry-package=./docker-registry_<version>_<arch>.deb\` if the unit has no Ubuntu archive mirror):`,
      '',
      '```',
      deploy,
      '```',
      '',
      '3. Relate and verify:',
      '',
      '```',
      'juju integrate offline-registry containerd',
      'juju run offline-registry/leader check-images',
      '```',
      '',
      `Charms: ${charms.join(', ')}`,
      '',
    ].join('\n'),
  );
  const files = [...charms, 'images.tar', 'image-list.txt', 'README.md'];
  fs.writeFileSync(path.join(out, 'SHA256SUMS'), files.map((f) => `${sha256File(path.join(out, f))}  ${f}`).join('\n') + '\n');
  console.log(`kit ready in ${path.relative(process.cwd(), out) || '.'}: ${files.join(', ')}, SHA256SUMS\n${deploy}`);
}

main();
