// load-images: (re)load archives from the images resource or a path on the unit, with progress in
// action-log and a summary in the results.
import { reconcile } from '../charm.js';
import { actionGet, actionLog, actionSet, resourceGet } from '../juju/index.js';
import { loadIntoRegistry } from '../loading.js';
import { fileFingerprint, formatBytes, loadFailures, noSpaceProblem, recordResourceLoad, summary } from '../records.js';
import { recordExplicitLoads } from '../sync/index.js';
import { ActionProblem, action, checkedWriter } from './common.js';

interface Params {
  path?: string;
  'dry-run'?: boolean;
  name?: string;
}

export const loadImagesAction = action(async (deps) => {
  const { runner, paths } = deps;
  const params = await actionGet<Params>(runner);
  const { settings, writerUrl } = await checkedWriter(deps);

  const fromResource = !params.path;
  const source = params.path || (await resourceGet(runner, 'images'));
  if (!source || (fromResource && !fileFingerprint(source))) {
    throw new ActionProblem('no images to load: attach the images resource (juju attach-resource offline-registry images=./images.tar) or give path=<file or directory on the unit>');
  }
  const dryRun = params['dry-run'] === true;
  await actionLog(runner, `${dryRun ? 'checking' : 'loading'} ${source}`);

  const logs: Promise<void>[] = [];
  const report = await loadIntoRegistry({
    sources: [source],
    writerUrl,
    paths,
    layerCompression: settings.layerCompression,
    dryRun,
    nameForUnnamed: params.name,
    onProgress: (e) => {
      logs.push(
        actionLog(runner, `${e.image}: ${e.status}, ${formatBytes(e.bytes)} (total ${formatBytes(e.totalBytes)} in ${e.seconds.toFixed(1)} s, ${formatBytes(e.bytesPerSecond)}/s)`).catch(() => undefined),
      );
    },
  });
  await Promise.all(logs);

  const counts = summary(report);
  const failures = loadFailures(report);
  for (const failure of failures) await actionLog(runner, `failed: ${failure}`);
  const images = Object.fromEntries(
    report.images.map((image, i) => [
      String(i + 1),
      { reference: image.reference, path: image.path, digest: image.digest, status: image.status, bytes: image.bytesPushed, message: image.message, source: image.source },
    ]),
  );
  const errors = Object.fromEntries(report.errors.map((e, i) => [String(i + 1), { source: e.source, message: e.message }]));
  await actionSet(runner, {
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

  if (!dryRun) {
    if (fromResource) recordResourceLoad(paths, source, fileFingerprint(source)!, report);
    // The operator asked for these here: the other units get them even if they were removed before.
    recordExplicitLoads(paths, report.images.filter((i) => i.status === 'pushed' || i.status === 'present'));
    // New images and upstream hosts change the status and what the relation publishes.
    await reconcile(deps, { autoLoad: false });
  }
  const noSpace = noSpaceProblem(failures, paths, { sources: [source], bytesPushed: report.bytesPushed });
  if (noSpace) throw new ActionProblem(noSpace);
  if (failures.length) {
    throw new ActionProblem(`${counts.failed} of ${report.images.length + report.errors.length} failed to load: ${failures[0]}${failures.length > 1 ? ` (and ${failures.length - 1} more: see the results)` : ''}`);
  }
});
