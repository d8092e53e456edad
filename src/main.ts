// The process dispatch starts for every hook and action.
import { runHook } from './charm.js';
import { execaRunner, hookContextFromEnv, jujuLog } from './juju/index.js';
import { unitPaths } from './registry/index.js';

async function main(): Promise<void> {
  const ctx = hookContextFromEnv();
  const deps = { ctx, runner: execaRunner, paths: unitPaths() };
  // Actions (and everything they use) are loaded only when an action runs.
  if (ctx.kind === 'action') await (await import('./actions/index.js')).runAction(deps);
  else await runHook(deps);
}

main().catch(async (err: Error) => {
  const message = `${err.message}`;
  process.stderr.write(`offline-registry: ${err.stack ?? message}\n`);
  await jujuLog(execaRunner, 'ERROR', message).catch(() => undefined);
  process.exitCode = 1;
});
