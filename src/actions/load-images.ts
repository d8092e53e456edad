// load-images: (re)load archives from the images resource or a path on the unit, with progress in
// action-log and a summary in the results.
import fs from 'node:fs';
import { reconcile } from '../charm.js';
import { actionGet, actionLog, actionSet, configGet, isLeader, resourceGet } from '../juju/index.js';
import { parseSettings } from '../settings.js';
import { storeWriteRefusal } from '../storage/loader-role.js';
import { loadIntoRegistry } from '../loading.js';
import { fileFingerprint, formatBytes, loadFailures, noSpaceProblem, readCatalog, recordLastLoad, recordResourceLoad, summary } from '../records.js';
import { recordExplicitLoads } from '../sync/index.js';
import { ActionProblem, action, checkedWriter } from './common.js';
import { batchedLog } from './progress-log.js';

interface Params {
  path?: string;
  'dry-run'?: boolean;
  name?: string;
}

export const loadImagesAction = action(async (deps) => {
  const { runner, paths } = deps;
  // Independent round trips to the agent, so in parallel.
  const [params, config] = await Promise.all([actionGet<Params>(runner), configGet(runner)]);
  // Chosen: refuse rather than defer. A deferred load would run in some later hook with nobody
  // watching its log; the operator reruns it on the leader at once. Asked before the writer is
  // probed: a follower's refusal does not depend on the shared store answering.
  const parsed = parseSettings(config);
  const refusal = parsed.storage.backend === 's3' ? storeWriteRefusal('s3', await isLeader(runner), 'load-images') : null;
  if (refusal) throw new ActionProblem(refusal);
  const { settings, writerUrl } = await checkedWriter(deps, parsed);

  const fromResource = !params.path;
  const source = params.path || (await resourceGet(runner, 'images'));
  if (!source || (fromResource && !fileFingerprint(source))) {
    throw new ActionProblem('no images to load: attach the images resource (juju attach-resource offline-registry images=./images.tar) or give path=<file or directory on the unit>');
  }
  // Only the resource's zero-byte file means "not supplied"; an empty file asked for by path is bad input.
  if (!fromResource && isEmptyFile(source)) {
    throw new ActionProblem(`${source} is an empty file (0 bytes), not an image archive: give path=<a docker save or OCI archive, or a directory of them>`);
  }
  const dryRun = params['dry-run'] === true;
  const progress = batchedLog((message) => actionLog(runner, message));
  progress.line(`${dryRun ? 'checking' : 'loading'} ${source}`);
  const catalogBefore = JSON.stringify(readCatalog(paths));
  const report = await loadIntoRegistry({
    sources: [source],
    writerUrl,
    paths,
    layerCompression: settings.layerCompression,
    dryRun,
    nameForUnnamed: params.name,
    onProgress: (e) => {
      progress.line(`${e.image}: ${e.status}, ${formatBytes(e.bytes)} (total ${formatBytes(e.totalBytes)} in ${e.seconds.toFixed(1)} s, ${formatBytes(e.bytesPerSecond)}/s)`);
    },
  });

  const counts = summary(report);
  const failures = loadFailures(report);
  for (const failure of failures) progress.line(`failed: ${failure}`);
  progress.line(`${dryRun ? 'checked' : 'done'}: ${counts.loaded} loaded, ${counts.present} present, ${counts.skipped} skipped, ${counts.failed} failed, ${formatBytes(report.bytesPushed)} in ${report.seconds.toFixed(1)} s`);
  const images = Object.fromEntries(
    report.images.map((image, i) => [
      String(i + 1),
      { reference: image.reference, path: image.path, digest: image.digest, status: image.status, bytes: image.bytesPushed, message: image.message, source: image.source },
    ]),
  );
  const errors = Object.fromEntries(report.errors.map((e, i) => [String(i + 1), { source: e.source, message: e.message }]));
  // The last progress lines and the results are independent round trips to the agent: in parallel.
  const results = actionSet(runner, {
    loaded: counts.loaded,
    present: counts.present,
    skipped: counts.present + counts.skipped,
    failed: counts.failed,
    'bytes-pushed': report.bytesPushed,
    seconds: report.seconds.toFixed(2),
    'dry-run': dryRun,
    images,
    errors,
  });
  await Promise.all([progress.flush(), results]);

  if (!dryRun) {
    if (fromResource) recordResourceLoad(paths, source, fileFingerprint(source)!, report);
    else recordLastLoad(paths, source, report);
    // The operator asked for these here: the other units get them even if they were removed before.
    recordExplicitLoads(paths, report.images.filter((i) => i.status === 'pushed' || i.status === 'present'));
    // New images and upstream hosts change the status and what the relation publishes; a load
    // that left the catalog as it was (a reload) changes neither, and spares the round trips.
    if (fromResource || JSON.stringify(readCatalog(paths)) !== catalogBefore) await reconcile(deps, { autoLoad: false });
  }
  const noSpace = noSpaceProblem(failures, paths, { sources: [source], bytesPushed: report.bytesPushed });
  if (noSpace) throw new ActionProblem(noSpace);
  if (failures.length) {
    throw new ActionProblem(`${counts.failed} of ${report.images.length + report.errors.length} failed to load: ${failures[0]}${failures.length > 1 ? ` (and ${failures.length - 1} more: see the results)` : ''}`);
  }
});

function isEmptyFile(file: string): boolean {
  try {
    const stat = fs.statSync(file);
    return stat.isFile() && stat.size === 0;
  } catch {
    return false;
  }
}
