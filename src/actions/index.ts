// Actions: each one a thin handler over the same building blocks as the reconcile.
import { actionFail } from '../juju/index.js';
import type { CharmDeps } from '../charm.js';
import { containerdConfigAction } from './containerd-config.js';
import { auditClusterAction, checkImagesAction, garbageCollectAction, listImagesAction, removeImagesAction } from './day2.js';
import { getCredentialsAction } from './get-credentials.js';
import { loadImagesAction } from './load-images.js';

type ActionHandler = (deps: CharmDeps) => Promise<void>;

const ACTIONS: Record<string, ActionHandler> = {
  'load-images': loadImagesAction,
  'get-credentials': getCredentialsAction,
  'containerd-config': containerdConfigAction,
  'list-images': listImagesAction,
  'remove-images': removeImagesAction,
  'garbage-collect': garbageCollectAction,
  'check-images': checkImagesAction,
  'audit-cluster': auditClusterAction,
};

export async function runAction(deps: CharmDeps): Promise<void> {
  const handler = ACTIONS[deps.ctx.name];
  if (!handler) {
    await actionFail(deps.runner, `unknown action ${deps.ctx.name}: see actions.yaml for the actions this charm has`);
    return;
  }
  await handler(deps);
}
