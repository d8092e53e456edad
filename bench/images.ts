// Image loading, measured side by side in one run on the same generated images (20 images sharing a
// base layer, incompressible data), as a docker-save archive and as an OCI layout directory:
// our loader (bundled like the charm, in its own process, into a fresh registry) against
// `skopeo copy` one image after another into another fresh registry, against the copy limit
// (`cat | sha256sum` plus `cp` of the same bytes), against the registry's own ingest ceiling (one
// streaming blob PUT of the same bytes, digest known, into a fresh registry), a reload of the same
// input, and the loader's peak RSS. Then the load-images action itself through dispatch (hook
// tools included): first load and reload of the docker-save archive.
// BENCH_IMAGES_MB sets the data size (default 1000), BENCH_IMAGES_ROUNDS the rounds whose medians are shown (default 3);
// BENCH_CPU_PROF=<dir> writes the loader's CPU profiles there.
import { spawn } from 'node:child_process';
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import tar from 'tar-stream';
import { parseReference, registryPath } from '../src/images/reference.js';
import { layerTarSize, writeDockerSave, type ImageSpec } from '../tests/support/archives.js';
import { startTestRegistry, type TestRegistry } from '../tests/support/registry.js';
import { DEPLOY, cleanupUnits, loopbackState, runAll, unit } from '../tests/integration/charm-under-test.js';
import type { DriverRequest, DriverResult } from './load-driver.js';

const IMAGE_COUNT = 20;
const BASE_SHARE = 0.1; // of the data: one base layer under every image
const MB = 1e6;

const GOALS = { vsSkopeo: 1.5, ofLimit: 0.7, ofIngest: 0.85, reload: 0.05, rssMiB: 150 };

interface Timed {
  seconds: number;
  stdout: string;
}

/** Runs a command to its end within `timeoutMs`, wall-clock timed; throws with its stderr on failure. */
function timed(cmd: string, args: string[], timeoutMs: number, env?: NodeJS.ProcessEnv): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not start: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code === 0) resolve({ seconds, stdout });
      else {
        const why = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ` (over ${timeoutMs / 1000} s)` : ''}` : `exit ${code}`;
        reject(new Error(`${cmd} ${args.join(' ').slice(0, 300)} failed (${why}):\n${stdout.slice(-2000)}\n${stderr}`));
      }
    });
  });
}

/** 20 images: a shared base layer plus two layers of their own, `totalBytes` of layer data in all. */
export function imageSet(totalBytes: number, count = IMAGE_COUNT): { refs: string[]; images: ImageSpec[] } {
  const base = { seed: 'bench-base', size: Math.round(totalBytes * BASE_SHARE) };
  const own = Math.max(1, Math.round((totalBytes - base.size) / count / 2));
  const refs: string[] = [];
  const images: ImageSpec[] = [];
  for (let i = 0; i < count; i++) {
    const ref = `registry.example/bench/app-${String(i).padStart(2, '0')}:1.0`;
    refs.push(ref);
    images.push({ tags: [ref], layers: [base, { seed: `bench-${i}-a`, size: own }, { seed: `bench-${i}-b`, size: own }] });
  }
  return { refs, images };
}

const layerEntry = (seed: string) => `${crypto.createHash('sha256').update(`dir:${seed}`).digest('hex')}/layer.tar`;

/**
 * The same images as an OCI layout directory, written directly from the docker-save archive: the
 * same uncompressed layer bytes (media type ...layer.v1.tar), OCI manifests, and index.json naming
 * each image in full in both io.containerd.image.name and org.opencontainers.image.ref.name.
 */
export async function writeOciLayout(dir: string, archive: string, refs: string[], images: ImageSpec[], saved: { configs: string[]; diffIds: string[][] }): Promise<void> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const digestOf = new Map<string, string>(); // archive entry -> blob hex
  images.forEach((image, i) => image.layers.forEach((l, j) => digestOf.set(layerEntry(l.seed), saved.diffIds[i][j].slice(7))));
  for (const c of saved.configs) digestOf.set(`${c.slice(7)}.json`, c.slice(7));
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const hex = digestOf.get(header.name);
    if (!hex) {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    pipeline(stream, fs.createWriteStream(path.join(blobs, hex))).then(() => next(), next);
  });
  await pipeline(fs.createReadStream(archive), extract);

  const writeBlob = (bytes: Buffer) => {
    const hex = crypto.createHash('sha256').update(bytes).digest('hex');
    fs.writeFileSync(path.join(blobs, hex), bytes);
    return { digest: `sha256:${hex}`, size: bytes.length };
  };
  const manifests = images.map((image, i) => {
    const config = saved.configs[i];
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: fs.statSync(path.join(blobs, config.slice(7))).size },
        layers: image.layers.map((l, j) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: saved.diffIds[i][j], size: layerTarSize(l.size) })),
      }),
    );
    return {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...writeBlob(manifest),
      annotations: { 'io.containerd.image.name': refs[i], 'org.opencontainers.image.ref.name': refs[i] },
    };
  });
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
}

/** The loader bundled the way scripts/build.mjs bundles the charm, so it runs as fast as the charm does. */
export async function bundleDriver(outfile: string): Promise<void> {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'load-driver.ts');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18',
    minify: true,
    logLevel: 'warning',
    legalComments: 'none',
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
}

/** Tags served by the registry, all repositories: proves a load put every image there. */
async function servedTags(reg: TestRegistry): Promise<number> {
  const repos = ((await (await fetch(`${reg.url}/v2/_catalog?n=1000`)).json()) as { repositories?: string[] }).repositories ?? [];
  let tags = 0;
  for (const repo of repos) tags += (((await (await fetch(`${reg.url}/v2/${repo}/tags/list`)).json()) as { tags?: string[] | null }).tags ?? []).length;
  return tags;
}

/** One round's wall-clock seconds for one input. */
interface Sample {
  ours: number;
  oursBytes: number;
  reload: number;
  reloadBytes: number;
  skopeo: number;
  hash: number;
  copy: number;
  ingest: number;
  /** The same blobs (the layout's files) each as its own upload, 4 at a time: the registry's per-blob ceiling. */
  perBlob: number;
  rssKiB: number;
}

interface Row {
  input: string;
  inputBytes: number;
  samples: Sample[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function benchImages(): Promise<void> {
  const totalMB = Number(process.env.BENCH_IMAGES_MB ?? 1000);
  if (!Number.isFinite(totalMB) || totalMB <= 0) throw new Error(`BENCH_IMAGES_MB=${process.env.BENCH_IMAGES_MB} is not a positive number of megabytes: unset it or give e.g. 100`);
  const rounds = Number(process.env.BENCH_IMAGES_ROUNDS ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`BENCH_IMAGES_ROUNDS=${process.env.BENCH_IMAGES_ROUNDS} is not a whole number >= 1: unset it or give e.g. 1`);
  const cpuProfDir = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
  // Generous bounds: 20 MB/s for any one step, never under two minutes.
  const boundMs = Math.max(120_000, (totalMB / 20) * 1000);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-images-'));
  const registries: TestRegistry[] = [];
  const freshRegistry = async () => {
    const reg = await startTestRegistry({ dataDir: fs.mkdtempSync(path.join(work, 'registry-')) });
    registries.push(reg);
    return reg;
  };
  const stopRegistry = async (reg: TestRegistry) => {
    await reg.stop();
    fs.rmSync(reg.dataDir, { recursive: true, force: true });
    registries.splice(registries.indexOf(reg), 1);
  };
  try {
    const { refs, images } = imageSet(Math.round(totalMB * MB));
    const archive = path.join(work, 'images.docker-save.tar');
    const layout = path.join(work, 'images.oci');
    const driver = path.join(work, 'load-driver.mjs');
    const prepStart = Date.now();
    const saved = await writeDockerSave(archive, images);
    await writeOciLayout(layout, archive, refs, images, saved);
    await bundleDriver(driver);
    const blobFiles = fs.readdirSync(path.join(layout, 'blobs', 'sha256')).map((n) => path.join(layout, 'blobs', 'sha256', n));
    const layoutBytes = blobFiles.reduce((sum, f) => sum + fs.statSync(f).size, 0);
    console.log(`== image loading: ${IMAGE_COUNT} images sharing a ${(images[0].layers[0].size / MB).toFixed(0)} MB base layer, two own layers each, ${totalMB} MB of incompressible layer data ==`);
    console.log(`inputs made in ${((Date.now() - prepStart) / 1000).toFixed(1)} s under ${work}: docker-save ${(fs.statSync(archive).size / MB).toFixed(1)} MB, OCI layout ${(layoutBytes / MB).toFixed(1)} MB (written directly: same uncompressed layers)`);

    // Each measured step starts with no dirty pages, so none pays for the writeback of the one before.
    const settle = () => timed('sync', [], boundMs);

    const load = async (reg: TestRegistry, root: string, sources: string[], what: string): Promise<DriverResult & { wall: number }> => {
      const request: DriverRequest = { sources, writerUrl: reg.url, root, layerCompression: 'none' };
      const nodeArgs = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir, '--cpu-prof-name', `${what}.cpuprofile`] : [];
      const run = await timed(process.execPath, [...nodeArgs, driver, JSON.stringify(request)], boundMs);
      const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as DriverResult;
      return { ...result, wall: run.seconds };
    };
    const check = async (reg: TestRegistry, what: string) => {
      const tags = await servedTags(reg);
      if (tags !== IMAGE_COUNT) throw new Error(`${what}: the registry serves ${tags} tags after the load, expected ${IMAGE_COUNT}`);
    };

    const inputs = [
      { input: 'docker-save', files: [archive], source: archive, skopeoRef: (ref: string) => `docker-archive:${archive}:${ref}` },
      { input: 'OCI layout', files: blobFiles, source: layout, skopeoRef: (ref: string) => `oci:${layout}:${ref}` },
    ];
    const rows: Row[] = inputs.map(({ input, files }) => ({ input, inputBytes: files.reduce((sum, f) => sum + fs.statSync(f).size, 0), samples: [] }));
    // Rounds interleave the inputs; medians over rounds damp the noise of a shared disk and CPU.
    for (let round = 1; round <= rounds; round++) {
      for (const [i, { input, files, source, skopeoRef }] of inputs.entries()) {
        const slug = `${input.replace(/\W+/g, '-').toLowerCase()}-${round}`;

        // Copy limit first: it also leaves the input in the page cache for everyone after it.
        await settle();
        const hash = await timed('sh', ['-c', 'cat "$@" | sha256sum', 'sh', ...files], boundMs);
        const digest = `sha256:${hash.stdout.trim().split(/\s+/)[0]}`;
        const ceiling = await freshRegistry();
        await settle();
        const ingest = await ingestCeiling(ceiling, files, digest, boundMs);
        await stopRegistry(ceiling);
        const perBlobRegistry = await freshRegistry();
        await settle();
        const perBlob = await perBlobCeiling(perBlobRegistry, blobFiles);
        await stopRegistry(perBlobRegistry);
        const copyDir = fs.mkdtempSync(path.join(work, 'copy-'));
        await settle();
        const copy = await timed('cp', ['--reflink=never', ...files, copyDir], boundMs);
        fs.rmSync(copyDir, { recursive: true, force: true });

        const ours = await freshRegistry();
        const root = fs.mkdtempSync(path.join(work, 'unit-'));
        await settle();
        const first = await load(ours, root, [source], `${slug}-first`);
        if (first.loaded !== IMAGE_COUNT) throw new Error(`${input}: our loader pushed ${first.loaded} images, expected ${IMAGE_COUNT}`);
        await check(ours, `${input} (ours)`);
        await settle();
        const reload = await load(ours, root, [source], `${slug}-reload`);
        if (reload.present !== IMAGE_COUNT) throw new Error(`${input}: the reload found ${reload.present} images present, expected ${IMAGE_COUNT}`);
        await stopRegistry(ours);
        fs.rmSync(root, { recursive: true, force: true });

        const theirs = await freshRegistry();
        await settle();
        const skopeoStart = process.hrtime.bigint();
        for (const ref of refs) {
          await timed('skopeo', ['--insecure-policy', 'copy', '--quiet', '--dest-tls-verify=false', skopeoRef(ref), `docker://${theirs.host}/${registryPath(parseReference(ref))}`], boundMs);
        }
        const skopeo = Number(process.hrtime.bigint() - skopeoStart) / 1e9;
        await check(theirs, `${input} (skopeo)`);
        await stopRegistry(theirs);

        rows[i].samples.push({
          ours: first.wall,
          oursBytes: first.bytesPushed,
          reload: reload.wall,
          reloadBytes: reload.bytesPushed,
          skopeo,
          hash: hash.seconds,
          copy: copy.seconds,
          ingest,
          perBlob,
          rssKiB: Math.max(first.maxRssKiB, reload.maxRssKiB),
        });
      }
    }

    printTable(rows);
    const action = await benchAction(archive, boundMs);
    console.log(`medians of ${rounds} rounds (BENCH_IMAGES_ROUNDS), [min-max]; limit s = median hash + median copy`);
    console.log('ours: wall time of the bundled loader process (node start included) into a fresh registry, 20 images from one source; reload: the same source again into the same registry and unit state');
    console.log('skopeo: `skopeo copy docker-archive:...|oci:... docker://...` per image, one after another, into a fresh registry; skopeo gzips uncompressed layers when pushing to a registry (its default), ours pushes them as they are');
    console.log('copy limit: `cat <input> | sha256sum` then `cp <input>` (layout: its blobs) on the same disk, page cache warm; `sync` (untimed) before every timed step');
    console.log('ingest ceiling: `cat <input> | curl -T -` as ONE blob PUT (chunked, ?digest= known) into a fresh docker-registry: what the registry itself can take in');
    for (const r of rows) {
      const perBlob = median(r.samples.map((x) => x.perBlob));
      const ours = median(r.samples.map((x) => x.ours));
      console.log(`per-blob ceiling (${blobFiles.length} blobs, each one POST + streaming PUT, 4 at a time): ${perBlob.toFixed(2)} s -> ${r.input} ours at ${((perBlob / ours) * 100).toFixed(0)}% of it`);
    }
    console.log('per-blob ceiling: the OCI layout\'s files (layers, configs, manifests) each uploaded as its own blob, digest known, from this process into a fresh docker-registry: the registry\'s cost per upload included, which one PUT does not pay');
    console.log('');
    console.log('== the load-images action through dispatch (simulated hook tools: each call a process, as each is an agent round trip), docker-save input ==');
    const reloadShare = action.reload / action.first;
    console.log(`first load ${action.first.toFixed(2)} s (${action.firstLogs} action-log calls), reload ${action.reload.toFixed(2)} s (${action.reloadLogs} action-log calls)`);
    console.log(`reload / first load, whole action: ${(reloadShare * 100).toFixed(1)}% (goal <= ${GOALS.reload * 100}%) ${reloadShare <= GOALS.reload ? 'ok' : 'MISSED'}`);
    if (cpuProfDir) console.log(`CPU profiles of the loader: ${cpuProfDir}`);
  } finally {
    for (const reg of [...registries]) await reg.stop().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function printTable(rows: Row[]): void {
  const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
  const header = ['input', 'MB', 'ours s', 'MB/s', 'skopeo s', 'skopeo/ours', 'limit s', 'limit/ours', 'ingest s', 'ingest/ours', 'reload s', 'reload/first', 'peak RSS MiB'];
  const goals = ['', '', '', '', '', `>= ${GOALS.vsSkopeo}x`, '', `>= ${GOALS.ofLimit * 100}%`, '', `>= ${GOALS.ofIngest * 100}%`, '', `<= ${GOALS.reload * 100}%`, `<= ${GOALS.rssMiB}`];
  const lines = rows.map((r) => {
    const m = (key: keyof Sample) => median(r.samples.map((s) => s[key]));
    const spread = (key: keyof Sample) => {
      const v = r.samples.map((s) => s[key]);
      return v.length > 1 ? ` [${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}]` : '';
    };
    const ours = m('ours');
    const limit = m('hash') + m('copy');
    const speedup = m('skopeo') / ours;
    const ofLimit = limit / ours;
    const reload = m('reload') / ours;
    const ofIngest = m('ingest') / ours;
    const rss = Math.max(...r.samples.map((s) => s.rssKiB)) / 1024;
    return [
      r.input,
      (r.inputBytes / MB).toFixed(0),
      `${ours.toFixed(2)}${spread('ours')}`,
      (m('oursBytes') / MB / ours).toFixed(0),
      `${m('skopeo').toFixed(2)}${spread('skopeo')}`,
      `${speedup.toFixed(2)}x ${verdict(speedup >= GOALS.vsSkopeo)}`,
      `${limit.toFixed(2)} (${m('hash').toFixed(2)}+${m('copy').toFixed(2)})`,
      `${(ofLimit * 100).toFixed(0)}% ${verdict(ofLimit >= GOALS.ofLimit)}`,
      `${m('ingest').toFixed(2)}${spread('ingest')}`,
      `${(ofIngest * 100).toFixed(0)}% ${verdict(ofIngest >= GOALS.ofIngest)}`,
      `${m('reload').toFixed(2)}${spread('reload')} ${Math.max(...r.samples.map((s) => s.reloadBytes))} B`,
      `${(reload * 100).toFixed(1)}% ${verdict(reload <= GOALS.reload)}`,
      `${rss.toFixed(0)} ${verdict(rss <= GOALS.rssMiB)}`,
    ];
  });
  const table = [header, goals, ...lines];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}

/** The registry's own ingest ceiling: the input's bytes as one streaming blob PUT, digest known. */
async function ingestCeiling(reg: TestRegistry, files: string[], digest: string, boundMs: number): Promise<number> {
  const started = await fetch(`${reg.url}/v2/bench/ceiling/blobs/uploads/`, { method: 'POST' });
  const location = started.headers.get('location');
  if (started.status !== 202 || !location) throw new Error(`ingest ceiling: starting an upload answered ${started.status}`);
  const url = new URL(location, reg.url);
  url.searchParams.set('digest', digest);
  const put = await timed('sh', ['-c', 'u="$1"; shift; cat "$@" | curl -sSf -X PUT -H "content-type: application/octet-stream" -T - "$u"', 'sh', url.toString(), ...files], boundMs);
  const head = await fetch(`${reg.url}/v2/bench/ceiling/blobs/${digest}`, { method: 'HEAD' });
  if (head.status !== 200) throw new Error(`ingest ceiling: the registry does not hold ${digest} after the PUT (HEAD ${head.status})`);
  return put.seconds;
}

/** Every file as its own blob upload (POST, then one streaming PUT with ?digest=), 4 at a time. */
async function perBlobCeiling(reg: TestRegistry, files: string[]): Promise<number> {
  const request = (method: string, url: URL, body?: string): Promise<http.IncomingMessage> =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers: body ? { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(body).size } : { 'content-length': 0 } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      });
      req.on('error', reject);
      if (body) fs.createReadStream(body).on('error', reject).pipe(req);
      else req.end();
    });
  const queue = [...files];
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let file = queue.shift(); file; file = queue.shift()) {
        const started = await request('POST', new URL('/v2/bench/per-blob/blobs/uploads/', reg.url));
        if (started.statusCode !== 202 || !started.headers.location) throw new Error(`per-blob ceiling: starting an upload answered ${started.statusCode}`);
        const url = new URL(started.headers.location, reg.url);
        url.searchParams.set('digest', `sha256:${path.basename(file)}`);
        const put = await request('PUT', url, file);
        if (put.statusCode !== 201) throw new Error(`per-blob ceiling: the PUT of ${path.basename(file)} answered ${put.statusCode}`);
      }
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** load-images through the packed charm's dispatch, first load then reload, as the unit agent runs it. */
async function benchAction(archive: string, boundMs: number): Promise<{ first: number; reload: number; firstLogs: number; reloadLogs: number }> {
  try {
    const sim = await unit();
    const deployed = await runAll(sim, DEPLOY, await loopbackState());
    const first = await sim.run({ action: 'load-images', params: { path: archive } }, deployed, { timeoutMs: boundMs });
    if (first.action?.status !== 'completed') throw new Error(`load-images action failed: ${first.action?.message} ${first.stderr.slice(-2000)}`);
    const reload = await sim.run({ action: 'load-images', params: { path: archive } }, first, { timeoutMs: boundMs });
    if (reload.action?.results.present !== String(IMAGE_COUNT)) throw new Error(`the reload action found ${String(reload.action?.results.present)} images present, expected ${IMAGE_COUNT}`);
    return { first: first.durationMs / 1000, reload: reload.durationMs / 1000, firstLogs: first.action.logs.length, reloadLogs: reload.action!.logs.length };
  } finally {
    await cleanupUnits();
  }
}
