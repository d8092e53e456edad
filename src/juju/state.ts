import { type CommandRunner, parseJson } from './runner.js';

/** Juju's unit-local key/value store (committed at hook end, discarded when the hook fails). */
export async function stateGet(runner: CommandRunner): Promise<Record<string, string>> {
  return parseJson<Record<string, string> | null>('state-get', await runner.run('state-get', ['--format=json'])) ?? {};
}

export async function stateSet(runner: CommandRunner, data: Record<string, string>): Promise<void> {
  await runner.run('state-set', ['--file', '-'], JSON.stringify(data));
}
