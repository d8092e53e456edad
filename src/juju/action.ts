import { type CommandRunner, parseJson } from './runner.js';

export async function actionGet<T = Record<string, unknown>>(runner: CommandRunner): Promise<T> {
  return (parseJson<T | null>('action-get', await runner.run('action-get', ['--format=json'])) ?? ({} as T));
}

/** Flattens nested results into action-set's dotted `key.sub=value` arguments. */
export function flattenResults(results: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, value] of Object.entries(results)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value === undefined || value === null) continue;
    if (typeof value === 'object' && !Array.isArray(value)) {
      out.push(...flattenResults(value as Record<string, unknown>, path));
    } else {
      out.push(`${path}=${Array.isArray(value) ? value.join(' ') : String(value)}`);
    }
  }
  return out;
}

export async function actionSet(runner: CommandRunner, results: Record<string, unknown>): Promise<void> {
  const args = flattenResults(results);
  if (args.length > 0) await runner.run('action-set', args);
}

export async function actionFail(runner: CommandRunner, message: string): Promise<void> {
  await runner.run('action-fail', ['--', message]);
}

export async function actionLog(runner: CommandRunner, message: string): Promise<void> {
  await runner.run('action-log', ['--', message]);
}
