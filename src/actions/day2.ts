// Day-2 actions: what is served, removing images, freeing disk, checking a release's image list,
// and auditing what a cluster runs against what this registry can serve.
import fs from 'node:fs';
import path from 'node:path';
import { type CharmDeps, reconcile } from '../charm.js';
import { type ImageRow, auditCluster, checkImages, formatBytes, formatTable, garbageCollect, listImages, parseImageList, planRemoval, RemovalRefusedError, removeImages } from '../day2/index.js';
import { actionGet, actionLog, actionSet, configGet, isLeader, resourceGet } from '../juju/index.js';
import { readJsonFile } from '../localstate.js';
import { catalogHosts, refreshUsage, writeCatalog } from '../records.js';
import { mirrorHosts } from '../relations/index.js';
import { registryFiles } from '../registry/index.js';
import { waitHealthy } from '../registry/health.js';
import { Systemd, unitName } from '../registry/service.js';
import { parseSettings } from '../settings.js';
import { ActionProblem, action, readEndpoint, writerContext } from './common.js';
import { storeWriteRefusal } from '../storage/loader-role.js';

const log = (deps: CharmDeps) => (line: string) => actionLog(deps.runner, line);

function rowResults(rows: ImageRow[]) {
  return Object.fromEntries(rows.map((row, i) => [String(i + 1), {
    path: row.path,
    reference: row.reference,
    digest: row.digest,
    platforms: row.platforms?.join(' '),
    size: row.size,
    host: row.host,
  }]));
}

export const listImagesAction = action(async (deps) => {
  const { filter } = await actionGet<{ filter?: string }>(deps.runner);
  const ctx = await writerContext(deps);
  try {
    const rows = await listImages(ctx.client, ctx.catalog, { filter: filter || undefined });
    for (const line of formatTable(rows).split('\n')) await actionLog(deps.runner, line);
    await actionSet(deps.runner, { count: rows.length, 'total-size': rows.reduce((n, r) => n + r.size, 0), images: rowResults(rows) });
  } finally {
    ctx.client.close();
  }
});

export const removeImagesAction = action(async (deps) => {
  const params = await actionGet<{ images?: string; 'dry-run'?: boolean; 'with-shared-tags'?: boolean }>(deps.runner);
  const refs = (params.images ?? '').split(/[\s,]+/).filter(Boolean);
  if (!refs.length) throw new ActionProblem('no images given: images="rocks.canonical.com:443/cdk/pause:3.9 library/nginx:1.25" (original or registry-path references)');
  const backend = parseSettings(await configGet(deps.runner)).storage.backend;
  const refusal = backend === 's3' ? storeWriteRefusal('s3', await isLeader(deps.runner), 'remove-images') : null;
  if (refusal) throw new ActionProblem(refusal);
  const ctx = await writerContext(deps);
  try {
    const rows = await listImages(ctx.client, ctx.catalog);
    let plan;
    try {
      plan = planRemoval(refs, rows, { withSharedTags: params['with-shared-tags'] === true });
    } catch (err) {
      if (err instanceof RemovalRefusedError) throw new ActionProblem(err.message);
      throw err;
    }
    const dryRun = params['dry-run'] === true;
    const result = await removeImages(ctx.client, plan, { dryRun, catalog: ctx.catalog, log: log(deps) });
    if (!dryRun) {
      writeCatalog(deps.paths, result.catalog);
      await refreshUsage(deps.paths);
    }
    await actionSet(deps.runner, {
      'dry-run': dryRun,
      removed: result.removed.map((r) => r.path).join(' '),
      count: result.removed.length,
      'already-gone': result.alreadyGone.join(' '),
      note: dryRun ? 'nothing was removed' : 'run garbage-collect to free the disk space of blobs no image uses any more',
    });
    if (!dryRun) await reconcile(deps, { autoLoad: false });
  } finally {
    ctx.client.close();
  }
});

export const garbageCollectAction = action(async (deps) => {
  const { runner, paths } = deps;
  const settings = parseSettings(await configGet(runner));
  const refusal = settings.storage.backend === 's3' ? storeWriteRefusal('s3', await isLeader(runner), 'garbage-collect') : null;
  if (refusal) throw new ActionProblem(refusal);
  const files = registryFiles(paths);
  const installed = readJsonFile<{ binary: string } | null>(files.installed, null);
  if (!installed) throw new ActionProblem('the registry is not installed yet: wait for the unit to be active');
  const systemd = new Systemd(runner);
  const writer = unitName('writer');
  // Only the writer can change storage; the public instance is read-only and keeps serving.
  await actionLog(runner, `stopping ${writer}; the public registry keeps serving (read-only)`);
  await systemd.stop(writer);
  let result;
  try {
    result = await garbageCollect({ binary: installed.binary, configPath: files.config('writer'), dataDir: paths.defaultDataDir, log: (l) => actionLog(runner, l) });
  } finally {
    await systemd.restart(writer);
    const health = await waitHealthy(`http://127.0.0.1:${settings.writerPort}`, 20000);
    await actionLog(runner, `restarted ${writer}: ${health.detail}`);
  }
  await refreshUsage(paths);
  await actionSet(runner, { 'bytes-freed': result.bytesFreed, 'blobs-removed': result.blobsRemoved, seconds: result.seconds.toFixed(2), freed: formatBytes(result.bytesFreed) });
  await reconcile(deps, { autoLoad: false });
});

async function imageListText(deps: CharmDeps, list: string): Promise<{ text: string; from: string }> {
  if (list.trim()) {
    const candidate = list.trim();
    // A single token that starts with / or ./ is a path on the unit; anything else is inline references.
    if (!/\s/.test(candidate) && /^\.?\//.test(candidate)) {
      try {
        return { text: fs.readFileSync(candidate, 'utf8'), from: candidate };
      } catch (err) {
        throw new ActionProblem(`cannot read the image list ${candidate}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; give a readable file on the unit or inline references`);
      }
    }
    return { text: list, from: 'the list parameter' };
  }
  const resource = await resourceGet(deps.runner, 'image-list');
  if (!resource || !fs.existsSync(resource) || fs.statSync(resource).size === 0) {
    throw new ActionProblem('no image list: give list="<path on the unit or references>" or attach the image-list resource (e.g. container-images/v1.31.0.txt of the Charmed Kubernetes bundle)');
  }
  return { text: fs.readFileSync(resource, 'utf8'), from: `the image-list resource (${path.basename(resource)})` };
}

export const checkImagesAction = action(async (deps) => {
  const { list } = await actionGet<{ list?: string }>(deps.runner);
  const { text, from } = await imageListText(deps, list ?? '');
  let refs: string[];
  try {
    refs = parseImageList(text);
  } catch (err) {
    throw new ActionProblem(`${from}: ${(err as Error).message}`);
  }
  const ctx = await writerContext(deps);
  try {
    const rows = await listImages(ctx.client, ctx.catalog);
    const mirrored = mirrorHosts(catalogHosts(ctx.catalog));
    const result = checkImages(refs, rows, mirrored);
    await actionLog(deps.runner, `${from}: ${refs.length} images, ${result.present.length} present, ${result.missing.length} missing, ${result.otherTag.length} under another tag`);
    for (const m of result.missing) await actionLog(deps.runner, `missing: ${m.reference} (${m.reason})`);
    for (const o of result.otherTag) await actionLog(deps.runner, `other tag: ${o.reference} (served: ${o.available.join(', ')})`);
    await actionSet(deps.runner, {
      total: refs.length,
      'present-count': result.present.length,
      'missing-count': result.missing.length,
      'other-tag-count': result.otherTag.length,
      present: result.present.map((p) => p.reference).join(' '),
      missing: result.missing.map((m) => m.reference).join(' '),
      'other-tag': Object.fromEntries(result.otherTag.map((o, i) => [String(i + 1), { reference: o.reference, available: o.available.join(' ') }])),
    });
  } finally {
    ctx.client.close();
  }
});

function kubeconfigText(deps: CharmDeps, param: string, configValue: string): string {
  if (param) {
    try {
      return fs.readFileSync(param, 'utf8');
    } catch (err) {
      throw new ActionProblem(`cannot read kubeconfig ${param}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}; give a readable kubeconfig path on the unit`);
    }
  }
  if (!configValue.trim()) {
    throw new ActionProblem('no kubeconfig: set the kubeconfig config option (base64) or give kubeconfig=<path on the unit>');
  }
  const text = Buffer.from(configValue.trim(), 'base64').toString('utf8');
  if (!text.trim()) throw new ActionProblem('the kubeconfig config option is not base64 of a kubeconfig file: juju config offline-registry kubeconfig="$(base64 -w0 ~/.kube/config)"');
  return text;
}

export const auditClusterAction = action(async (deps) => {
  const { runner, paths } = deps;
  const params = await actionGet<{ kubeconfig?: string }>(runner);
  const config = await configGet(runner);
  // Never echo the kubeconfig: it holds cluster credentials.
  const kubeconfig = kubeconfigText(deps, params.kubeconfig ?? '', String(config.kubeconfig ?? ''));
  const endpoint = readEndpoint(deps);
  const ctx = await writerContext(deps);
  try {
    const rows = await listImages(ctx.client, ctx.catalog);
    const result = await auditCluster({
      kubeconfig,
      served: rows,
      mirroredHosts: mirrorHosts(catalogHosts(ctx.catalog)),
      registryNetloc: endpoint?.netloc ?? '',
      log: (l) => actionLog(runner, l),
    });
    const unservable = result.images.filter((i) => !i.servable);
    await actionLog(runner, `${result.images.length} images in use, ${unservable.length} not servable by this registry, ${result.pulling.length} containers failing to pull`);
    for (const i of unservable) await actionLog(runner, `not servable: ${i.image} (${i.reason ?? 'not loaded'}) used by ${i.usedBy.join(', ')}`);
    for (const p of result.pulling) await actionLog(runner, `${p.reason}: ${p.namespace}/${p.pod} container ${p.container} image ${p.image}`);
    await actionSet(runner, {
      'images-in-use': result.images.length,
      'not-servable-count': unservable.length,
      'not-servable': Object.fromEntries(unservable.map((i, n) => [String(n + 1), { image: i.image, reason: i.reason, 'used-by': i.usedBy.join(' ') }])),
      'pull-failures': Object.fromEntries(result.pulling.map((p, n) => [String(n + 1), { pod: `${p.namespace}/${p.pod}`, container: p.container, image: p.image, reason: p.reason, message: p.message }])),
    });
  } finally {
    ctx.client.close();
  }
});

