// The process dispatch starts for every hook and action.
import { runAction } from './actions/index.js';
import { runHook } from './charm.js';
import { execaRunner, hookContextFromEnv, jujuLog } from './juju/index.js';
import { unitPaths } from './registry/index.js';

async function main(): Promise<void> {
  const ctx = hookContextFromEnv();
  const deps = { ctx, runner: execaRunner, paths: unitPaths() };
  if (ctx.kind === 'action') await runAction(deps);
  else await runHook(deps);
}

main().catch(async (err: Error) => {
  const message = `${err.message}`;
  process.stderr.write(`offline-registry: ${err.stack ?? message}\n`);
  await jujuLog(execaRunner, 'ERROR', message).catch(() => undefined);
  process.exitCode = 1;
});
