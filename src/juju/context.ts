// What Juju tells a hook through its environment. The event comes from JUJU_DISPATCH_PATH:
// JUJU_HOOK_NAME is empty for actions.

export type EventKind = 'hook' | 'action';

export interface HookContext {
  kind: EventKind;
  /** Hook name (`install`, `docker-registry-relation-joined`) or action name (`load-images`). */
  name: string;
  unitName: string;
  appName: string;
  charmDir: string;
  modelName: string;
  modelUuid: string;
  relation?: { endpoint: string; id: string; remoteUnit?: string; remoteApp?: string; departingUnit?: string };
  /** For relation hooks: `created`, `joined`, `changed`, `departed`, `broken`. */
  relationEvent?: string;
}

export function hookContextFromEnv(env: NodeJS.ProcessEnv = process.env): HookContext {
  const dispatchPath = env.JUJU_DISPATCH_PATH ?? '';
  const [dir, ...rest] = dispatchPath.split('/');
  const name = rest.join('/');
  if (!name || (dir !== 'hooks' && dir !== 'actions')) {
    throw new Error(`JUJU_DISPATCH_PATH is "${dispatchPath}": expected hooks/<name> or actions/<name> (is this running under Juju?)`);
  }
  const unitName = env.JUJU_UNIT_NAME ?? '';
  const context: HookContext = {
    kind: dir === 'actions' ? 'action' : 'hook',
    name,
    unitName,
    appName: unitName.split('/')[0] ?? '',
    charmDir: env.JUJU_CHARM_DIR ?? env.CHARM_DIR ?? process.cwd(),
    modelName: env.JUJU_MODEL_NAME ?? '',
    modelUuid: env.JUJU_MODEL_UUID ?? '',
  };
  const match = /-relation-(created|joined|changed|departed|broken)$/.exec(name);
  if (context.kind === 'hook' && match && env.JUJU_RELATION_ID) {
    context.relationEvent = match[1];
    context.relation = {
      endpoint: env.JUJU_RELATION ?? name.slice(0, match.index),
      id: env.JUJU_RELATION_ID,
      remoteUnit: env.JUJU_REMOTE_UNIT || undefined,
      remoteApp: env.JUJU_REMOTE_APP || undefined,
      departingUnit: env.JUJU_DEPARTING_UNIT || undefined,
    };
  }
  return context;
}
